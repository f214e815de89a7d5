"""The questionnaire data file: the shipped edition's weights and bands, and broken files refused
with every problem named."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from platform_api.digitalization.questionnaire import EDITIONS, QuestionnaireError, load, load_file, parse


def raw() -> Any:
    return YAML(typ="safe", pure=True).load(EDITIONS["2024"].read_text(encoding="utf-8"))


def test_2024_weights_as_published() -> None:
    q = load("2024")
    dims = {d.id: (d.weight, {i.id: i.weight for i in d.items}) for d in q.dimensions}
    assert dims["foundation"] == (Decimal(50), {
        "network": 8, "equipment_digitalization": 6, "equipment_networking": 6, "data_collection": 10,
        "information_systems": 10, "security": 10})
    assert dims["management"] == (Decimal(30), {"planning": Decimal("7.5"), "mechanisms": Decimal("7.5"),
                                                 "talent": Decimal("7.5"), "funding": Decimal("7.5")})
    assert dims["results"] == (Decimal(20), {"energy_per_revenue": 7, "quality": 7, "revenue_per_employee": 3,
                                              "cost_per_revenue": 3})
    assert q.max_score == 100
    assert [(b.level, b.start, b.end) for b in q.bands] == [
        (1, 20, 40), (2, 40, 60), (3, 60, 80), (4, 80, None)]
    assert (q.rate_zero_at, q.rate_full_at) == (Decimal("0.10"), Decimal("0.60"))
    assert len(q.scenarios) == 16
    data_collection = q.item("data_collection")
    assert data_collection is not None and len(data_collection.options) == 14 and data_collection.full_at == 14
    assert {i.measured for i in q.items if i.measured} == {"networking_rate", "digitalization_rate"}
    assert "zjtx.miit.gov.cn" in q.source and "not the official PDF" in q.source


def test_bands_come_from_the_file() -> None:
    data = raw()
    data["levels"]["not_rated_below"] = 10
    data["levels"]["bands"][0]["from"] = 10
    q = parse(data)
    assert q.level_of(Decimal("9.99")) is None and q.level_of(Decimal(10)) == 1
    assert load().level_of(Decimal(10)) is None


def test_broken_file_lists_every_problem(tmp_path: Path) -> None:
    data = copy.deepcopy(raw())
    data["dimensions"][0]["items"][0]["weight"] = 9          # foundation no longer adds up to 50
    data["dimensions"][1]["items"][0]["kind"] = "slider"     # unknown kind
    data["levels"]["bands"][1]["from"] = 45                  # gap between bands
    data["dimensions"][0]["items"][1]["advice"] = "{oops}"   # unknown template field
    p = tmp_path / "bad.yaml"
    YAML(typ="safe", pure=True).dump(data, p)
    with pytest.raises(QuestionnaireError) as e:
        load_file(p)
    text = str(e.value)
    assert f"{p}: dimensions[0].weight: 50 but its items weigh 51" in text
    assert "dimensions[1].items[0].kind: 'slider' is not a kind (allowed: choice, multi, rate)" in text
    assert "levels.bands[0].to: 40 must equal the next band's from (45)" in text
    assert "dimensions[0].items[1].advice: unknown fields ['oops']" in text
    assert len(e.value.problems) >= 4


def test_unreadable_or_unknown_edition(tmp_path: Path) -> None:
    with pytest.raises(QuestionnaireError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")
    (tmp_path / "x.yaml").write_text("levels: [unclosed", encoding="utf-8")
    with pytest.raises(QuestionnaireError, match="not valid YAML"):
        load_file(tmp_path / "x.yaml")
    with pytest.raises(QuestionnaireError, match=r"'1999' is not known \(allowed: 2024\)"):
        load("1999")
