"""The Chinese font of charts and PDF reports.

Debian's `fonts-noto-cjk` ships Noto Sans CJK as OpenType collections (.ttc) with PostScript (CFF)
outlines, which ReportLab cannot embed (it takes TrueType outlines only). So for each PDF the
glyphs of the characters it uses are converted to TrueType outlines (fontTools, cubic to
quadratic within 1 unit) and built into a small TrueType font that ReportLab embeds. Converted
glyphs are kept for the life of the process, so later reports only convert characters not seen
before. Matplotlib reads the collection directly.

`MINEGATE_CJK_FONT=/path/to/font.(ttf|otf|ttc)` chooses another font.
"""

from __future__ import annotations

import io
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ENV = "MINEGATE_CJK_FONT"
CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",   # Debian / Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",        # Arch, Fedora
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)
PACKAGE = "fonts-noto-cjk"
SAMPLE = "数字化转型报告"


class FontMissing(RuntimeError):
    """No usable Chinese font; the message says which package to install."""


@dataclass(frozen=True, slots=True)
class CjkFont:
    path: str
    index: int
    family: str


def _face_family(font: Any) -> str:
    name = font["name"]
    return str(name.getDebugName(16) or name.getDebugName(1) or "CJK")


def _covers(font: Any) -> bool:
    cmap = font.getBestCmap() or {}
    return all(ord(ch) in cmap for ch in SAMPLE)


@lru_cache(maxsize=4)
def _find(override: str | None) -> CjkFont:
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    paths = [override] if override else list(CANDIDATES)
    for p in paths:
        if not p or not Path(p).is_file():
            continue
        try:
            if p.lower().endswith((".ttc", ".otc")):
                faces = TTCollection(p, lazy=True).fonts
                # prefer the Simplified Chinese face of a CJK collection
                order = sorted(range(len(faces)), key=lambda i: (" SC" not in _face_family(faces[i]), i))
                for i in order:
                    if _covers(faces[i]):
                        return CjkFont(p, i, _face_family(faces[i]))
            else:
                f = TTFont(p, lazy=True)
                if _covers(f):
                    return CjkFont(p, 0, _face_family(f))
        except (TTLibError, OSError, ValueError):
            continue
    looked = ", ".join(paths)
    raise FontMissing(
        f"no Chinese font found (looked for: {looked}); install the Debian package {PACKAGE} "
        f"(apt-get install {PACKAGE}) or set {ENV} to a .ttf, .otf or .ttc file with Chinese glyphs"
    )


def cjk_font() -> CjkFont:
    return _find(os.environ.get(ENV) or None)


# -- matplotlib ------------------------------------------------------------------------------------

_mpl_lock = threading.Lock()


def matplotlib_font() -> Any:
    """FontProperties for charts (the face registered with matplotlib once per process)."""
    from matplotlib import font_manager

    f = cjk_font()
    with _mpl_lock:
        if not any(e.fname == f.path for e in font_manager.fontManager.ttflist):
            font_manager.fontManager.addfont(f.path)
    if f.path.lower().endswith((".ttc", ".otc")):
        return font_manager.FontProperties(family=f.family)
    return font_manager.FontProperties(fname=f.path)


# -- ReportLab -------------------------------------------------------------------------------------


class _GlyphSource:
    """The chosen face, opened once, with the TrueType conversions made so far."""

    def __init__(self, f: CjkFont) -> None:
        from fontTools.ttLib import TTFont

        self.font = TTFont(f.path, fontNumber=f.index, lazy=True)
        self.cmap: dict[int, str] = dict(self.font.getBestCmap() or {})
        self.glyphset = self.font.getGlyphSet()
        self.upm = int(self.font["head"].unitsPerEm)
        self.converted: dict[str, tuple[Any, int]] = {}
        self.lock = threading.Lock()

    def glyph(self, name: str) -> tuple[Any, int]:
        got = self.converted.get(name)
        if got is None:
            from fontTools.pens.cu2quPen import Cu2QuPen
            from fontTools.pens.ttGlyphPen import TTGlyphPen

            pen = TTGlyphPen(None)
            self.glyphset[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            got = (pen.glyph(), int(self.font["hmtx"][name][0]))
            self.converted[name] = got
        return got

    def build(self, text: str, name: str) -> bytes:
        """A TrueType font named `name` holding the glyphs of `text` (plus printable ASCII)."""
        from fontTools.fontBuilder import FontBuilder

        chars = sorted(set(text) | {chr(c) for c in range(32, 127)})
        with self.lock:
            order = [".notdef"]
            mapping: dict[int, str] = {}
            for ch in chars:
                g = self.cmap.get(ord(ch))
                if g is None:
                    continue
                mapping[ord(ch)] = g
                if g not in order:
                    order.append(g)
            parts = {g: self.glyph(g) for g in order}
            hhea, os2 = self.font["hhea"], self.font["OS/2"]
            ascent, descent = int(hhea.ascent), int(hhea.descent)
            typo = (int(os2.sTypoAscender), int(os2.sTypoDescender), int(os2.usWinAscent), int(os2.usWinDescent))
        glyphs = {g: p[0] for g, p in parts.items()}
        fb = FontBuilder(self.upm, isTTF=True)
        fb.setupGlyphOrder(order)
        fb.setupCharacterMap(mapping)
        fb.setupGlyf(glyphs)
        fb.setupHorizontalMetrics({g: (p[1], getattr(p[0], "xMin", 0) or 0) for g, p in parts.items()})
        fb.setupHorizontalHeader(ascent=ascent, descent=descent)
        # a name of its own: ReportLab keys embedded faces by this name, so two subsets sharing one
        # would both get the glyphs of the first
        fb.setupNameTable({"familyName": name, "styleName": "Regular", "psName": name})
        fb.setupOS2(sTypoAscender=typo[0], sTypoDescender=typo[1], usWinAscent=typo[2], usWinDescent=typo[3],
                    fsType=0)
        fb.setupPost()
        buf = io.BytesIO()
        fb.save(buf)
        return buf.getvalue()


_sources: dict[CjkFont, _GlyphSource] = {}
_sources_lock = threading.Lock()


def truetype_for(text: str, name: str = "MinegateCJK") -> bytes:
    """TrueType font bytes covering `text`, for ReportLab; `name` must be unique per subset."""
    f = cjk_font()
    with _sources_lock:
        src = _sources.get(f)
        if src is None:
            src = _sources[f] = _GlyphSource(f)
    return src.build(text, name)


@contextmanager
def reportlab_font(text: str) -> Iterator[str]:
    """A ReportLab font for `text`, registered under a fresh name for the block and forgotten
    after it (ReportLab's registry is process-wide and would otherwise grow with every report)."""
    from reportlab.lib import fonts as rl_fonts
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    name = f"MinegateCJK{uuid.uuid4().hex[:12]}"
    font = TTFont(name, io.BytesIO(truetype_for(text, name)))
    pdfmetrics.registerFont(font)
    try:
        yield name
    finally:
        pdfmetrics._fonts.pop(name, None)  # type: ignore[attr-defined]
        pdfmetrics._dynFaceNames.pop(font.face.name, None)  # type: ignore[attr-defined]
        for k in [k for k, v in rl_fonts._ps2tt_map.items() if v[0] == name.lower()]:
            rl_fonts._ps2tt_map.pop(k, None)
        for k in [k for k in rl_fonts._tt2ps_map if k[0] == name.lower()]:
            rl_fonts._tt2ps_map.pop(k, None)
