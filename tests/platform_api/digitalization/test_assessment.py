"""Scoring on hand-computed questionnaires: every band edge, the measured-rate banding, answers
refused with the field named, recommendations from the lowest-scoring items."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from platform_api.digitalization.assessment import AnswerError, Share, assess, check_answers, rate_fraction
from platform_api.digitalization.questionnaire import load

Q = load("2024")

# Building blocks (item weight x option fraction), added up by hand below.
INFO_FULL = {"information_systems": "integrated"}          # 10
SECURITY_FULL = {"security": "continuous"}                  # 10
DATA_ALL = {"data_collection": [o.key for o in Q.item("data_collection").options]}  # type: ignore[union-attr]  # 10
ENERGY_FULL = {"energy_per_revenue": "down_over_10"}        # 7
REVENUE_FULL = {"revenue_per_employee": "up_over_10"}       # 3
COST_FULL = {"cost_per_revenue": "down_over_5"}             # 3
PLAN_MECH = {"planning": "reviewed", "mechanisms": "leadership"}  # 7.5 + 7.5
TALENT_FUNDING = {"talent": "ecosystem", "funding": "over_3"}     # 7.5 + 7.5
BASE_40 = {**INFO_FULL, **SECURITY_FULL, **DATA_ALL, **ENERGY_FULL, **REVENUE_FULL}  # 40
BASE_60 = {**BASE_40, **PLAN_MECH, **COST_FULL, "network": "office"}                   # 40 + 15 + 3 + 2 = 60

# A rate item (weight 6) scores 6 x (r - 0.10) / 0.50 = 12 x (r - 0.10).
EDGES: list[tuple[str, dict[str, Any], str, int | None]] = [
    # 10 + 7.5 + 12 x 0.2075 = 17.5 + 2.49
    ("19.99", {**INFO_FULL, "planning": "reviewed", "equipment_networking": 0.3075}, "19.99", None),
    ("20", {**INFO_FULL, **SECURITY_FULL}, "20.00", 1),
    # 20 + 15 + network 8 x 0.5 + 12 x 0.0825
    ("39.99", {**INFO_FULL, **SECURITY_FULL, **PLAN_MECH, "network": "production", "equipment_networking": 0.1825},
     "39.99", 1),
    ("40", BASE_40, "40.00", 2),
    # 40 + 15 + 4 + 0.99
    ("59.99", {**BASE_40, **PLAN_MECH, "network": "production", "equipment_networking": 0.1825}, "59.99", 2),
    ("60", BASE_60, "60.00", 3),
    # 60 + 15 + quality 7 x 0.25 + 12 x 0.27
    ("79.99", {**BASE_60, **TALENT_FUNDING, "quality": "stable", "equipment_digitalization": 0.37}, "79.99", 3),
    # 60 + 15 + quality 7 x 0.5 + 12 x 0.125
    ("80", {**BASE_60, **TALENT_FUNDING, "quality": "up_0_2", "equipment_digitalization": 0.225}, "80.00", 4),
]


@pytest.mark.parametrize(("label", "answers", "score", "level"), EDGES, ids=[e[0] for e in EDGES])
def test_band_edges(label: str, answers: dict[str, Any], score: str, level: int | None) -> None:
    clean, _ = check_answers(Q, answers)
    a = assess(Q, clean)
    assert a.total == Decimal(score)
    assert a.level == level
    d = a.as_dict()
    assert d["score"] == float(score) and d["level"] == level
    assert d["level_name"] == ({1: "一级", 2: "二级", 3: "三级", 4: "四级"}[level] if level else "未达评级")
    assert sum(Decimal(str(x["score"])) for x in d["dimensions"]) == Decimal(score)


def test_gap_to_next_level_and_plan_closes_it() -> None:
    a = assess(Q, check_answers(Q, EDGES[2][1])[0])  # 39.99
    gap = a.gap()
    assert (gap["level"], gap["next_level"], gap["next_from"], gap["points_needed"]) == (1, 2, 40.0, 0.01)
    assert len(gap["plan"]) == 1
    top = assess(Q, check_answers(Q, EDGES[-1][1])[0]).gap()  # 80: level 4, next none
    assert top["next_level"] is None and top["plan"] == []
    low = assess(Q, {}).gap()
    assert (low["level"], low["next_level"], low["points_needed"]) == (None, 1, 20.0)
    recs = {r.item.id: r for r in assess(Q, {}).recommendations}
    assert sum((r.gain for r in recs.values() if r.in_plan), Decimal(0)) >= 20


@pytest.mark.parametrize(("rate", "fraction"), [
    ("0", "0"), ("0.10", "0"), ("0.1001", "0.0002"), ("0.35", "0.5"), ("0.5999", "0.9998"), ("0.60", "1"),
    ("0.6001", "1"), ("1", "1"),
])
def test_rate_banding(rate: str, fraction: str) -> None:
    assert rate_fraction(Q, Decimal(rate)) == Decimal(fraction)


def test_measured_rates_prefill_and_beat_typed_answers() -> None:
    answers = check_answers(Q, {"equipment_networking": 1.0, "equipment_digitalization": 0.0})[0]
    a = assess(Q, answers, {"networking_rate": Share(1, 4), "digitalization_rate": Share(3, 4)})
    items = {r.item.id: r for r in a.items}
    assert (items["equipment_networking"].source, items["equipment_networking"].score) == ("measured", Decimal("1.80"))
    assert (items["equipment_digitalization"].source, items["equipment_digitalization"].score) == ("measured", 6)
    # nothing measured (no register): the typed answer counts
    b = {r.item.id: r for r in assess(Q, answers, {"networking_rate": None, "digitalization_rate": Share(0, 0)}).items}
    assert (b["equipment_networking"].source, b["equipment_networking"].score) == ("answered", 6)
    assert (b["equipment_digitalization"].source, b["equipment_digitalization"].score) == ("answered", 0)
    assert assess(Q, {}).items[1].source == "unanswered"


def test_multi_item_rounds_each_item_to_cents() -> None:
    a = assess(Q, check_answers(Q, {"data_collection": ["finance"]})[0])  # 10 / 14 = 0.714...
    assert a.total == Decimal("0.71")


def test_recommendations_from_lowest_scoring_items() -> None:
    answers = check_answers(Q, {**BASE_40, "network": "office", "planning": "written", "mechanisms": "person",
                                "talent": "dedicated", "funding": "under_1", "quality": "stable",
                                "cost_per_revenue": "down_0_2"})[0]
    a = assess(Q, answers, {"networking_rate": Share(1, 8), "digitalization_rate": Share(5, 8)})
    order = [r.item.id for r in a.recommendations]
    # fraction 0.0375 (networking 1/8 -> 12 x 0.025 = 0.30 of 6), then the 0.25s by gain, then the 0.5s
    assert order[:4] == ["equipment_networking", "network", "mechanisms", "quality"]
    assert order[4:] == ["planning", "talent", "funding", "cost_per_revenue"]
    rec = a.recommendations[0]
    assert rec.advice == "将4台生产设备通过网关接入平台并持续上传数据，使设备联网率从 12.5% 提升到 60%"
    assert rec.gain == Decimal("5.70") and rec.step_gain == Decimal("5.70")
    net = a.recommendations[1]
    assert net.advice.startswith("将网络延伸到生产区域") and net.step_gain == Decimal("2.00")
    assert [r.item.id for r in a.recommendations if r.in_plan] == ["equipment_networking", "network", "mechanisms"]
    assert all(r.gain > 0 for r in a.recommendations)


def test_scenario_grades_and_gaps() -> None:
    _, sc = check_answers(Q, None, {"safety": 3, "finance": 1, "energy": None})
    d = assess(Q, {}, None, sc).as_dict()["scenarios"]
    assert (d["graded"], d["average"]) == (2, 2.0)
    gap_ids = [g["id"] for g in d["gaps"]]
    assert "finance" in gap_ids and "safety" not in gap_ids and len(gap_ids) == 15


def test_bad_answers_name_the_field() -> None:
    with pytest.raises(AnswerError) as e:
        check_answers(Q, {"network": "fibre", "nosuch": 1, "equipment_networking": 45, "data_collection": ["x"],
                          "planning": True}, {"safety": 5, "nope": 1})
    p = e.value.problems
    assert "answers.network: 'fibre' is not an option (allowed: none, office, production, full, advanced)" in p
    assert any(x.startswith("answers.nosuch: unknown item (allowed: network, ") for x in p)
    assert "answers.equipment_networking: 45 is not a rate (allowed: a fraction 0..1, e.g. 0.45 for 45 %)" in p
    assert any(x.startswith("answers.data_collection: 'x' is not an option") for x in p)
    assert any(x.startswith("answers.planning: True is not an option") for x in p)
    assert "scenarios.safety: 5 is not a grade (allowed: 0, 1, 2, 3, 4)" in p
    assert any(x.startswith("scenarios.nope: unknown scenario") for x in p)
    assert len(p) == 7
    with pytest.raises(AnswerError, match="listed twice"):
        check_answers(Q, {"data_collection": ["finance", "finance"]})
