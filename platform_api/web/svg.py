"""Charts as server-rendered SVG: no script library, nothing fetched from elsewhere, readable when
printed. Two kinds: bars with a line over them (the ledger's balance chart) and a time series."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

FONT = "'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif"


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v < hi + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _num(v: float) -> str:
    a = abs(v)
    if a >= 1e4:
        return f"{v:,.0f}"
    if a >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _frame(width: int, height: int, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="{escape(title)}" font-family="{FONT}" font-size="12">',
            f"<title>{escape(title)}</title>"]


def _legend(series: Sequence[tuple[str, str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, color, shape in series:
        if shape == "line":
            out.append(f'<line x1="{x:.0f}" y1="{y - 4:.0f}" x2="{x + 18:.0f}" y2="{y - 4:.0f}" stroke="{color}" '
                       'stroke-width="2.5"/>')
        else:
            out.append(f'<rect x="{x:.0f}" y="{y - 10:.0f}" width="14" height="10" fill="{color}" rx="2"/>')
        out.append(f'<text x="{x + 24:.0f}" y="{y:.0f}" fill="#334">{escape(name)}</text>')
        x += 30 + 13 * len(name) + 10
    return out


def bars_and_line(labels: Sequence[str], bars: Sequence[Series], line: Series | None, *, title: str,
                  unit: str = "", width: int = 960, height: int = 300) -> str:
    """Grouped bars per label (e.g. production and shipments per day) with a line (closing stock)
    on the same axis."""
    left, right, top, bottom = 64, 16, 34, 48
    pw, ph = width - left - right, height - top - bottom
    values = [v for s in [*bars, *([line] if line else [])] for v in s.values if v is not None]
    if not labels or not values:
        return "".join(_frame(width, 60, title)) + (
            f'<text x="{width / 2:.0f}" y="34" text-anchor="middle" fill="#889">—</text></svg>')
    ticks = nice_ticks(min(0.0, *values), max(values))
    y0, y1 = ticks[0], ticks[-1]

    def y(v: float) -> float:
        return top + ph - (v - y0) / (y1 - y0) * ph

    out = _frame(width, height, title)
    for t in ticks:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e3e8ef"/>')
        out.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#667">{_num(t)}</text>')
    if unit:
        out.append(f'<text x="{left - 6}" y="{top - 12}" text-anchor="end" fill="#667">{escape(unit)}</text>')
    n = len(labels)
    slot = pw / n
    bw = slot * 0.72 / max(1, len(bars))
    every = max(1, math.ceil(n / 16))
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.14
        for k, s in enumerate(bars):
            v = s.values[i]
            if v is None:
                continue
            yv, yb = y(max(v, 0.0)), y(min(v, 0.0))
            out.append(f'<rect x="{x0 + k * bw:.1f}" y="{yv:.1f}" width="{max(bw - 1, 1):.1f}" '
                       f'height="{max(yb - yv, 0.5):.1f}" fill="{s.color}"><title>{escape(label)} {escape(s.name)}: '
                       f'{v:,.3f}</title></rect>')
        if i % every == 0:
            out.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + ph + 16}" text-anchor="middle" '
                       f'fill="#556">{escape(label)}</text>')
    if line is not None:
        pts = [(left + i * slot + slot / 2, y(v)) for i, v in enumerate(line.values) if v is not None]
        if pts:
            path = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py) in enumerate(pts))
            out.append(f'<path d="{path}" fill="none" stroke="{line.color}" stroke-width="2.5"/>')
            for (px, py), v, label in zip(pts, [v for v in line.values if v is not None], labels, strict=False):
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{line.color}"><title>{escape(label)} '
                           f'{escape(line.name)}: {v:,.3f}</title></circle>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#99a"/>')
    legend = [(s.name, s.color, "bar") for s in bars] + ([(line.name, line.color, "line")] if line else [])
    out += _legend(legend, left + 24, 18)
    out.append("</svg>")
    return "".join(out)


def time_series(points: Sequence[tuple[datetime, float]], *, title: str, unit: str = "", color: str = "#1f6feb",
                band: Sequence[tuple[datetime, float, float]] = (), start: datetime | None = None,
                end: datetime | None = None, width: int = 960, height: int = 260,
                tz_label: str = "%H:%M") -> str:
    """A line over time; with `band` (min/max per bucket) a shaded range behind it."""
    left, right, top, bottom = 64, 16, 24, 40
    pw, ph = width - left - right, height - top - bottom
    if not points:
        return "".join(_frame(width, 60, title)) + (
            f'<text x="{width / 2:.0f}" y="34" text-anchor="middle" fill="#889">—</text></svg>')
    t_lo = (start or points[0][0]).timestamp()
    t_hi = (end or points[-1][0]).timestamp()
    if t_hi <= t_lo:
        t_hi = t_lo + 60
    vals = [v for _, v in points] + [b for _, lo, hi in band for b in (lo, hi)]
    ticks = nice_ticks(min(vals), max(vals))
    y0, y1 = ticks[0], ticks[-1]

    def x(t: datetime) -> float:
        return left + (t.timestamp() - t_lo) / (t_hi - t_lo) * pw

    def y(v: float) -> float:
        return top + ph - (v - y0) / ((y1 - y0) or 1) * ph

    out = _frame(width, height, title)
    for t in ticks:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e3e8ef"/>')
        out.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#667">{_num(t)}</text>')
    if unit:
        out.append(f'<text x="{left - 6}" y="{top - 8}" text-anchor="end" fill="#667">{escape(unit)}</text>')
    for k in range(6):
        ts = t_lo + (t_hi - t_lo) * k / 5
        label = datetime.fromtimestamp(ts, (start or points[0][0]).tzinfo).strftime(tz_label)
        out.append(f'<text x="{left + pw * k / 5:.1f}" y="{top + ph + 18}" text-anchor="middle" fill="#556">'
                   f'{escape(label)}</text>')
    if band:
        upper = " ".join(f"L{x(t):.1f},{y(hi):.1f}" for t, _, hi in band)
        lower = " ".join(f"L{x(t):.1f},{y(lo):.1f}" for t, lo, _ in reversed(band))
        out.append(f'<path d="M{upper[1:]} {lower} Z" fill="{color}" opacity="0.15"/>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(points))
    out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    if len(points) <= 120:
        for when, v in points:
            out.append(f'<circle cx="{x(when):.1f}" cy="{y(v):.1f}" r="2.2" fill="{color}"/>')
    last_t, last_v = points[-1]
    out.append(f'<text x="{min(x(last_t) + 4, width - right - 40):.1f}" y="{y(last_v) - 6:.1f}" fill="{color}" '
               f'font-weight="600">{_num(last_v)}</text>')
    out.append("</svg>")
    return "".join(out)
