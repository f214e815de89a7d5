"""The assessment questionnaire as data: dimensions, items, weights and level bands read from one
file (e.g. `miit_2024.yaml`), checked on load so a new edition is a data change, never a code change.

A broken file is refused with every problem listed as `FILE: field.path: what is wrong`.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

HERE = Path(__file__).resolve().parent
DEFAULT_EDITION = "2024"
EDITIONS: dict[str, Path] = {"2024": HERE / "miit_2024.yaml"}
ITEM_KINDS = ("choice", "multi", "rate")
MEASURED = ("networking_rate", "digitalization_rate")
"""Metrics the platform measures that a `rate` item may take its value from."""


class QuestionnaireError(ValueError):
    """The questionnaire file is unusable; `problems` lists every finding."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in self.problems))


@dataclass(frozen=True, slots=True)
class Option:
    key: str
    label: str
    fraction: Decimal = Decimal(0)
    advice: str | None = None


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    dimension: str
    name: str
    name_en: str
    weight: Decimal
    kind: str
    question: str
    options: tuple[Option, ...] = ()
    full_at: int | None = None
    measured: str | None = None
    advice: str | None = None

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)


@dataclass(frozen=True, slots=True)
class Dimension:
    id: str
    name: str
    name_en: str
    weight: Decimal
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Band:
    level: int
    start: Decimal
    end: Decimal | None
    name: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    name: str
    name_en: str
    advice: str


@dataclass(frozen=True, slots=True)
class Questionnaire:
    edition: str
    title: str
    title_en: str
    source: str
    not_rated_below: Decimal
    bands: tuple[Band, ...]
    rate_zero_at: Decimal
    rate_full_at: Decimal
    dimensions: tuple[Dimension, ...]
    scenarios: tuple[Scenario, ...]
    scenario_grades: dict[int, str] = field(default_factory=dict)

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for d in self.dimensions for i in d.items)

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def scenario(self, scenario_id: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.id == scenario_id), None)

    @property
    def max_score(self) -> Decimal:
        return sum((d.weight for d in self.dimensions), Decimal(0))

    def level_of(self, score: Decimal) -> int | None:
        """The band holding `score` (lower bound inclusive); None below the first band."""
        if score < self.not_rated_below:
            return None
        for b in self.bands:
            if b.start <= score and (b.end is None or score < b.end):
                return b.level
        return None

    def band(self, level: int) -> Band | None:
        return next((b for b in self.bands if b.level == level), None)

    def as_dict(self) -> dict[str, Any]:
        """The questionnaire for clients that render the form."""
        return {
            "edition": self.edition, "title": self.title, "title_en": self.title_en, "source": self.source,
            "levels": {"not_rated_below": float(self.not_rated_below), "bands": [
                {"level": b.level, "from": float(b.start), "to": None if b.end is None else float(b.end),
                 "name": b.name, "meaning": b.meaning} for b in self.bands]},
            "rate_band": {"zero_at": float(self.rate_zero_at), "full_at": float(self.rate_full_at)},
            "dimensions": [
                {"id": d.id, "name": d.name, "name_en": d.name_en, "weight": float(d.weight), "items": [
                    {"id": i.id, "name": i.name, "name_en": i.name_en, "weight": float(i.weight), "kind": i.kind,
                     "question": i.question, "measured": i.measured, "full_at": i.full_at,
                     "options": [{"key": o.key, "label": o.label, **({"fraction": float(o.fraction)}
                                                                      if i.kind == "choice" else {})}
                                 for o in i.options]}
                    for i in d.items]}
                for d in self.dimensions],
            "scenarios": {"grades": {str(k): v for k, v in sorted(self.scenario_grades.items())},
                          "items": [{"id": s.id, "name": s.name, "name_en": s.name_en} for s in self.scenarios]},
        }


# -- loading ---------------------------------------------------------------------------------------


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, msg: str) -> None:
        self.problems.append(f"{path}: {msg}")

    def text(self, m: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
        v = m.get(key)
        if v is None and not required:
            return ""
        if not isinstance(v, str) or not v.strip():
            self.fail(f"{path}.{key}", "missing or empty (allowed: text)")
            return ""
        return v.strip()

    def number(self, m: Mapping[str, Any], key: str, path: str, *, lo: Decimal, hi: Decimal | None = None,
               required: bool = True, default: Decimal | None = None) -> Decimal:
        v = m.get(key)
        if v is None:
            if required:
                self.fail(f"{path}.{key}", "missing (allowed: a number)")
            return default if default is not None else Decimal(0)
        try:
            if isinstance(v, bool):
                raise InvalidOperation
            d = Decimal(str(v))
        except InvalidOperation:
            self.fail(f"{path}.{key}", f"{v!r} is not a number")
            return Decimal(0)
        if d < lo or (hi is not None and d > hi):
            self.fail(f"{path}.{key}", f"{v} out of range (allowed: {lo}..{hi if hi is not None else ''})")
        return d

    def mapping(self, v: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            self.fail(path, "must be a mapping")
            return {}
        return v

    def seq(self, v: Any, path: str) -> list[Any]:
        if not isinstance(v, list) or not v:
            self.fail(path, "must be a non-empty list")
            return []
        return v


def _template_fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


_ADVICE_FIELDS = {"rate": {"needed", "rate", "target"}, "multi": {"missing"}}


def _load_item(c: _Checker, raw: Any, path: str, dim: str, ids: set[str]) -> Item | None:
    m = c.mapping(raw, path)
    item_id = c.text(m, "id", path)
    if item_id in ids:
        c.fail(f"{path}.id", f"{item_id!r} is used twice (allowed: unique item ids)")
    ids.add(item_id)
    kind = m.get("kind")
    if kind not in ITEM_KINDS:
        c.fail(f"{path}.kind", f"{kind!r} is not a kind (allowed: {', '.join(ITEM_KINDS)})")
        return None
    weight = c.number(m, "weight", path, lo=Decimal(0), hi=Decimal(100))
    options: list[Option] = []
    if kind in ("choice", "multi"):
        keys: set[str] = set()
        for k, o in enumerate(c.seq(m.get("options"), f"{path}.options")):
            op = f"{path}.options[{k}]"
            om = c.mapping(o, op)
            key = c.text(om, "key", op)
            if key in keys:
                c.fail(f"{op}.key", f"{key!r} is used twice")
            keys.add(key)
            frac = c.number(om, "fraction", op, lo=Decimal(0), hi=Decimal(1), required=kind == "choice")
            advice = om.get("advice")
            options.append(Option(key, c.text(om, "label", op), frac, advice if isinstance(advice, str) else None))
        if kind == "choice" and options:
            if max(o.fraction for o in options) != 1:
                c.fail(f"{path}.options", "no option earns full marks (allowed: one option with fraction 1)")
            for o in options:
                if o.fraction < 1 and not o.advice:
                    c.fail(f"{path}.options.{o.key}.advice",
                           "missing (every option below full marks says how to improve)")
    full_at = None
    if kind == "multi":
        fa = m.get("full_at", len(options))
        if not isinstance(fa, int) or isinstance(fa, bool) or not 1 <= fa <= max(len(options), 1):
            c.fail(f"{path}.full_at", f"{fa!r} out of range (allowed: 1..{len(options)})")
        else:
            full_at = fa
    measured = m.get("measured")
    if measured is not None and (kind != "rate" or measured not in MEASURED):
        c.fail(f"{path}.measured", f"{measured!r} not allowed (allowed on rate items: {', '.join(MEASURED)})")
    advice = m.get("advice")
    if kind in _ADVICE_FIELDS:
        if not isinstance(advice, str) or not advice.strip():
            c.fail(f"{path}.advice", "missing (allowed: a text template)")
            advice = None
        else:
            extra = _template_fields(advice) - _ADVICE_FIELDS[kind]
            if extra:
                c.fail(f"{path}.advice", f"unknown fields {sorted(extra)} (allowed: {sorted(_ADVICE_FIELDS[kind])})")
    return Item(
        id=item_id, dimension=dim, name=c.text(m, "name", path), name_en=c.text(m, "name_en", path),
        weight=weight, kind=kind, question=c.text(m, "question", path, required=False),
        options=tuple(options), full_at=full_at, measured=measured, advice=advice if isinstance(advice, str) else None,
    )


def parse(data: Any, source: str = "questionnaire") -> Questionnaire:
    """Check and build a questionnaire from loaded data; every problem is reported at once."""
    c = _Checker()
    top = c.mapping(data, "(top)")
    lv = c.mapping(top.get("levels"), "levels")
    not_rated = c.number(lv, "not_rated_below", "levels", lo=Decimal(0), hi=Decimal(100))
    bands: list[Band] = []
    for k, b in enumerate(c.seq(lv.get("bands"), "levels.bands")):
        p = f"levels.bands[{k}]"
        bm = c.mapping(b, p)
        lvl = bm.get("level")
        if not isinstance(lvl, int) or isinstance(lvl, bool) or lvl != k + 1:
            c.fail(f"{p}.level", f"{lvl!r} (allowed: levels numbered 1, 2, ... in order)")
        start = c.number(bm, "from", p, lo=Decimal(0), hi=Decimal(100))
        end = None if bm.get("to") is None else c.number(bm, "to", p, lo=Decimal(0), hi=Decimal(1000))
        bands.append(Band(k + 1, start, end, c.text(bm, "name", p), c.text(bm, "meaning", p, required=False)))
    if bands and bands[0].start != not_rated:
        c.fail("levels.bands[0].from", f"{bands[0].start} must equal levels.not_rated_below ({not_rated})")
    for k, (a, b) in enumerate(itertools.pairwise(bands)):
        if a.end != b.start:
            c.fail(f"levels.bands[{k}].to",
                   f"{a.end} must equal the next band's from ({b.start}): bands are contiguous")
    if bands and bands[-1].end is not None:
        c.fail(f"levels.bands[{len(bands) - 1}].to", "the top band is open (allowed: null)")
    rb = c.mapping(top.get("rate_band"), "rate_band")
    zero_at = c.number(rb, "zero_at", "rate_band", lo=Decimal(0), hi=Decimal(1))
    full_at = c.number(rb, "full_at", "rate_band", lo=Decimal(0), hi=Decimal(1))
    if full_at <= zero_at:
        c.fail("rate_band.full_at", f"{full_at} must be above zero_at ({zero_at})")

    dims: list[Dimension] = []
    ids: set[str] = set()
    for k, d in enumerate(c.seq(top.get("dimensions"), "dimensions")):
        p = f"dimensions[{k}]"
        dm = c.mapping(d, p)
        did = c.text(dm, "id", p)
        weight = c.number(dm, "weight", p, lo=Decimal(0), hi=Decimal(100))
        items = [it for j, raw in enumerate(c.seq(dm.get("items"), f"{p}.items"))
                 if (it := _load_item(c, raw, f"{p}.items[{j}]", did, ids)) is not None]
        total = sum((i.weight for i in items), Decimal(0))
        if items and total != weight:
            c.fail(f"{p}.weight", f"{weight} but its items weigh {total} (they must add up)")
        dims.append(Dimension(did, c.text(dm, "name", p), c.text(dm, "name_en", p), weight, tuple(items)))
    total = sum((d.weight for d in dims), Decimal(0))
    if dims and total != 100:
        c.fail("dimensions", f"weights add up to {total} (allowed: 100)")

    sc = c.mapping(top.get("scenarios", {}), "scenarios")
    grades: dict[int, str] = {}
    for k, g in enumerate(sc.get("grades") or []):
        gm = c.mapping(g, f"scenarios.grades[{k}]")
        lvl = gm.get("level")
        if isinstance(lvl, int) and not isinstance(lvl, bool):
            grades[lvl] = c.text(gm, "name", f"scenarios.grades[{k}]")
    scenarios: list[Scenario] = []
    sids: set[str] = set()
    for k, s in enumerate(sc.get("items") or []):
        p = f"scenarios.items[{k}]"
        sm = c.mapping(s, p)
        sid = c.text(sm, "id", p)
        if sid in sids:
            c.fail(f"{p}.id", f"{sid!r} is used twice (allowed: unique scenario ids)")
        sids.add(sid)
        scenarios.append(Scenario(sid, c.text(sm, "name", p), c.text(sm, "name_en", p), c.text(sm, "advice", p)))

    edition = top.get("edition")
    if not isinstance(edition, str | int) or isinstance(edition, bool):
        c.fail("edition", "missing (allowed: text, e.g. \"2024\")")
    title, title_en = c.text(top, "title", "(top)"), c.text(top, "title_en", "(top)")
    if c.problems:
        raise QuestionnaireError(source, c.problems)
    return Questionnaire(
        edition=str(edition), title=title, title_en=title_en,
        source=str(top.get("source") or "").strip(), not_rated_below=not_rated, bands=tuple(bands),
        rate_zero_at=zero_at, rate_full_at=full_at, dimensions=tuple(dims), scenarios=tuple(scenarios),
        scenario_grades=grades,
    )


def load_file(path: str | Path) -> Questionnaire:
    p = Path(path)
    try:
        data = YAML(typ="safe", pure=True).load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise QuestionnaireError(str(p), [f"cannot read ({e.strerror})"]) from None
    except YAMLError as e:
        raise QuestionnaireError(str(p), [f"not valid YAML ({e})"]) from None
    return parse(data, str(p))


@lru_cache(maxsize=8)
def load(edition: str = DEFAULT_EDITION) -> Questionnaire:
    """The questionnaire of an edition shipped with the platform (cached: it never changes at run time)."""
    if edition not in EDITIONS:
        raise QuestionnaireError("edition", [f"{edition!r} is not known (allowed: {', '.join(sorted(EDITIONS))})"])
    return load_file(EDITIONS[edition])
