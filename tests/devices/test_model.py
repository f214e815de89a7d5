from __future__ import annotations

import math

import pytest

from devices.model import Sample, TagSpec, iso_ms, parse_iso


def test_sample_dict_follows_the_contract() -> None:
    s = Sample("belt_scale_1", "flow_tph", 512.5, ts=parse_iso("2026-12-03T08:00:00.125Z"))
    assert s.to_dict() == {"device": "belt_scale_1", "tag": "flow_tph", "value": 512.5, "quality": "good",
                           "ts": "2026-12-03T08:00:00.125Z"}


def test_bad_sample_has_null_value_and_error() -> None:
    d = Sample.bad("d", "t", "timeout").to_dict(with_device=False)
    assert d["value"] is None and d["quality"] == "bad" and d["error"] == "timeout" and "device" not in d


def test_non_finite_values_stay_valid_json() -> None:
    assert Sample("d", "t", math.nan).to_dict()["value"] is None
    assert Sample("d", "t", math.inf).to_dict()["value"] == "Infinity"


def test_iso_round_trip_keeps_milliseconds() -> None:
    assert iso_ms(parse_iso("2026-01-02T03:04:05.678+08:00")) == "2026-01-01T19:04:05.678Z"


def test_scaling_and_inverse() -> None:
    t = TagSpec("x", "HR0", scale=0.1, offset=2)
    assert t.to_engineering(100) == pytest.approx(12.0)
    assert t.to_raw(12.0) == pytest.approx(100)
    assert TagSpec("b", "HR0.1", type="bool", scale=2).to_engineering(True) is True
