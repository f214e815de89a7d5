"""Scoring of the self-assessment: item and dimension scores, the level, the points missing to the
next level and recommendations drawn from the lowest-scoring items.

Arithmetic is decimal: an item scores `weight x fraction` rounded half-up to 0.01 points and the
total is the sum of the rounded items, so a score of 39.99 is level 1 and 40.00 level 2 exactly as
a person adding up the form would find. Items the platform measures (equipment networking and
digitalization) take the measured rate when the enterprise has a device register; the typed
answer counts only when nothing is measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from platform_api.digitalization.questionnaire import Item, Questionnaire

CENT = Decimal("0.01")
SCENARIO_GAP_BELOW = 2
"""Operations scenarios graded below this are listed as gaps."""


class AnswerError(ValueError):
    """Answers that do not fit the questionnaire; `problems` names each field and what is allowed."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Share:
    """`part` of `whole` (e.g. networked production devices of all production devices)."""

    part: int
    whole: int

    @property
    def value(self) -> Decimal | None:
        return Decimal(self.part) / Decimal(self.whole) if self.whole > 0 else None

    def as_dict(self) -> dict[str, Any]:
        v = self.value
        return {"rate": None if v is None else round(float(v), 4), "count": self.part, "of": self.whole}


def pct(v: Decimal | float | None, places: int = 1) -> str:
    if v is None:
        return "—"
    return f"{Decimal(str(v)) * 100:.{places}f}%"


def cents(v: Decimal) -> Decimal:
    return v.quantize(CENT, rounding=ROUND_HALF_UP)


# -- answers ---------------------------------------------------------------------------------------


def check_answers(
    q: Questionnaire, answers: Mapping[str, Any] | None, scenarios: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Validated, normalized answers (`null` = unanswered, dropped); every problem at once."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    item_ids = ", ".join(i.id for i in q.items)
    for key, value in (answers or {}).items():
        item = q.item(str(key))
        path = f"answers.{key}"
        if item is None:
            problems.append(f"{path}: unknown item (allowed: {item_ids})")
            continue
        if value is None:
            continue
        if item.kind == "choice":
            if not isinstance(value, str) or item.option(value) is None:
                problems.append(f"{path}: {value!r} is not an option (allowed: {', '.join(item.keys)})")
            else:
                out[item.id] = value
        elif item.kind == "multi":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"{path}: must be a list of options (allowed: {', '.join(item.keys)})")
                continue
            bad = [v for v in value if item.option(v) is None]
            if bad:
                problems.append(f"{path}: {bad[0]!r} is not an option (allowed: {', '.join(item.keys)})")
            elif len(set(value)) != len(value):
                problems.append(f"{path}: an option is listed twice (allowed: each option once)")
            else:
                out[item.id] = [o.key for o in item.options if o.key in value]
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or not 0 <= value <= 1:
                problems.append(f"{path}: {value!r} is not a rate (allowed: a fraction 0..1, e.g. 0.45 for 45 %)")
            else:
                out[item.id] = value
    sc_out: dict[str, int] = {}
    grades = sorted(q.scenario_grades) or [0, 1, 2, 3, 4]
    for key, value in (scenarios or {}).items():
        path = f"scenarios.{key}"
        if q.scenario(str(key)) is None:
            problems.append(f"{path}: unknown scenario (allowed: {', '.join(s.id for s in q.scenarios)})")
        elif value is None:
            continue
        elif isinstance(value, bool) or not isinstance(value, int) or value not in grades:
            problems.append(f"{path}: {value!r} is not a grade (allowed: {', '.join(map(str, grades))})")
        else:
            sc_out[str(key)] = value
    if problems:
        raise AnswerError(problems)
    return out, sc_out


# -- scoring ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class ItemResult:
    item: Item
    score: Decimal
    fraction: Decimal
    source: str  # answered | measured | unanswered
    answer: Any = None
    share: Share | None = None

    @property
    def gain(self) -> Decimal:
        return self.item.weight - self.score


@dataclass(slots=True)
class Recommendation:
    item: Item
    score: Decimal
    gain: Decimal
    step_gain: Decimal
    advice: str
    in_plan: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item.id, "name": self.item.name, "name_en": self.item.name_en,
                "dimension": self.item.dimension, "score": float(self.score), "weight": float(self.item.weight),
                "gain": float(self.gain), "step_gain": float(self.step_gain), "advice": self.advice,
                "in_plan": self.in_plan}


@dataclass(slots=True)
class Assessment:
    questionnaire: Questionnaire
    items: list[ItemResult]
    total: Decimal
    level: int | None
    scenario_levels: dict[str, int] = field(default_factory=dict)
    recommendations: list[Recommendation] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return any(r.source == "answered" for r in self.items) or bool(self.scenario_levels)

    def dimension_scores(self) -> list[dict[str, Any]]:
        out = []
        for d in self.questionnaire.dimensions:
            s = sum((r.score for r in self.items if r.item.dimension == d.id), Decimal(0))
            out.append({"id": d.id, "name": d.name, "name_en": d.name_en, "weight": float(d.weight),
                        "score": float(s), "share": round(float(s / d.weight), 4) if d.weight else None})
        return out

    def gap(self) -> dict[str, Any]:
        """Points missing to the next level and the recommendations that would close them."""
        q = self.questionnaire
        nxt = q.band((self.level or 0) + 1)
        if nxt is None:
            return {"level": self.level, "next_level": None, "next_from": None, "points_needed": 0.0, "plan": []}
        return {"level": self.level, "next_level": nxt.level, "next_from": float(nxt.start),
                "points_needed": float(nxt.start - self.total),
                "plan": [r.item.id for r in self.recommendations if r.in_plan]}

    def scenarios(self) -> dict[str, Any]:
        q = self.questionnaire
        rows = [{"id": s.id, "name": s.name, "name_en": s.name_en, "level": self.scenario_levels.get(s.id),
                 "grade": q.scenario_grades.get(self.scenario_levels[s.id]) if s.id in self.scenario_levels else None}
                for s in q.scenarios]
        graded = [v for v in self.scenario_levels.values()]
        gaps = [{"id": s.id, "name": s.name, "name_en": s.name_en, "level": self.scenario_levels.get(s.id),
                 "advice": s.advice}
                for s in q.scenarios if self.scenario_levels.get(s.id, 0) < SCENARIO_GAP_BELOW]
        return {"items": rows, "graded": len(graded),
                "average": round(sum(graded) / len(graded), 2) if graded else None, "gaps": gaps}

    def as_dict(self) -> dict[str, Any]:
        q = self.questionnaire
        band = q.band(self.level) if self.level else None
        return {
            "edition": q.edition, "score": float(self.total), "max_score": float(q.max_score),
            "level": self.level, "level_name": band.name if band else "未达评级",
            "level_meaning": band.meaning if band else None, "answered": self.answered,
            "dimensions": self.dimension_scores(),
            "items": [{"id": r.item.id, "name": r.item.name, "name_en": r.item.name_en, "dimension": r.item.dimension,
                       "weight": float(r.item.weight), "score": float(r.score), "source": r.source,
                       "answer": r.answer, **({"measured": r.share.as_dict()} if r.share else {})}
                      for r in self.items],
            "gap": self.gap(),
            "recommendations": [r.as_dict() for r in self.recommendations],
            "scenarios": self.scenarios(),
        }


def rate_fraction(q: Questionnaire, rate: Decimal) -> Decimal:
    """Banded score share of a rate: 0 up to `zero_at`, 1 from `full_at`, linear between."""
    if rate <= q.rate_zero_at:
        return Decimal(0)
    if rate >= q.rate_full_at:
        return Decimal(1)
    return (rate - q.rate_zero_at) / (q.rate_full_at - q.rate_zero_at)


def _score_item(q: Questionnaire, item: Item, answer: Any, measured: Share | None) -> ItemResult:
    if item.kind == "rate":
        if measured is not None and measured.value is not None:
            f = rate_fraction(q, measured.value)
            return ItemResult(item, cents(item.weight * f), f, "measured", round(float(measured.value), 4), measured)
        if answer is None:
            return ItemResult(item, Decimal(0), Decimal(0), "unanswered")
        f = rate_fraction(q, Decimal(str(answer)))
        return ItemResult(item, cents(item.weight * f), f, "answered", answer)
    if answer is None:
        return ItemResult(item, Decimal(0), Decimal(0), "unanswered")
    if item.kind == "choice":
        opt = item.option(answer)
        f = opt.fraction if opt else Decimal(0)
    else:
        assert item.full_at
        f = min(Decimal(1), Decimal(len(answer)) / Decimal(item.full_at))
    return ItemResult(item, cents(item.weight * f), f, "answered", answer)


def _advice(q: Questionnaire, r: ItemResult) -> tuple[str, Decimal]:
    """What to do next for this item, and the points that step earns."""
    item = r.item
    if item.kind == "choice":
        if r.source == "unanswered":
            first = min(item.options, key=lambda o: o.fraction)
            return f"尚未填报“{item.question or item.name}”；如尚未开展：{first.advice}", r.gain
        current = item.option(r.answer)
        higher = sorted((o for o in item.options if o.fraction > r.fraction), key=lambda o: o.fraction)
        step = cents(item.weight * higher[0].fraction) - r.score if higher else Decimal(0)
        return (current.advice if current and current.advice else ""), step
    if item.kind == "multi":
        chosen = set(r.answer or [])
        missing = [o.label for o in item.options if o.key not in chosen]
        text = (item.advice or "").format(missing="、".join(missing[:3]))
        per = cents(item.weight / Decimal(item.full_at or 1))
        return text, min(per, r.gain)
    share = r.share
    if share is not None and share.whole > 0:
        needed: Any = max(0, math.ceil(q.rate_full_at * share.whole) - share.part)
        rate = share.value
    else:
        needed, rate = "更多", Decimal(str(r.answer)) if r.answer is not None else None
    text = (item.advice or "").format(needed=needed, rate=pct(rate), target=pct(q.rate_full_at, 0))
    return text, r.gain


def assess(
    q: Questionnaire,
    answers: Mapping[str, Any] | None = None,
    measured: Mapping[str, Share | None] | None = None,
    scenarios: Mapping[str, int] | None = None,
) -> Assessment:
    """Score checked answers (see `check_answers`) with measured rates pre-filling their items."""
    answers = answers or {}
    measured = measured or {}
    results = [_score_item(q, it, answers.get(it.id), measured.get(it.measured) if it.measured else None)
               for it in q.items]
    total = sum((r.score for r in results), Decimal(0))
    a = Assessment(q, results, total, q.level_of(total), dict(scenarios or {}))
    order = {it.id: k for k, it in enumerate(q.items)}
    todo = sorted((r for r in results if r.gain > 0), key=lambda r: (r.fraction, -r.gain, order[r.item.id]))
    recs = []
    for r in todo:
        text, step = _advice(q, r)
        recs.append(Recommendation(r.item, r.score, r.gain, step, text))
    nxt = q.band((a.level or 0) + 1)
    if nxt is not None:
        needed, got = nxt.start - total, Decimal(0)
        for rec in recs:
            if got >= needed:
                break
            rec.in_plan = True
            got += rec.gain
    a.recommendations = recs
    return a
