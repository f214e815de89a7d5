from __future__ import annotations

from typing import Any

import pytest

from platform_api.telemetry.batch import BatchError, decode_value, encode_value, parse_batch


def payload(**over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "gateway": "gw1", "device": "scale", "epoch": "ep1", "seq": 7,
        "samples": [{"tag": "flow", "value": 512.5, "quality": "good", "ts": "2026-12-03T08:00:00.125Z"}],
    }
    p.update(over)
    return p


def test_parses_contract_payload() -> None:
    b = parse_batch(payload(), "E1", "gw1", "scale")
    assert b.key == ("E1", "gw1", "ep1", 7)
    assert b.points[0].ts_ms == 1_796_284_800_125
    assert b.points[0].value == 512.5


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"gateway": "gw2"}, "gateway"),
        ({"device": "other"}, "device"),
        ({"seq": 0}, "seq"),
        ({"seq": True}, "seq"),
        ({"seq": "3"}, "seq"),
        ({"epoch": None}, "epoch"),
        ({"samples": {}}, "samples"),
        ({"samples": [{"tag": "x", "quality": "great", "ts": "2026-01-01T00:00:00Z"}]}, "samples.0.quality"),
        ({"samples": [{"tag": "x", "value": 1, "ts": "yesterday"}]}, "samples.0.ts"),
        ({"samples": [{"tag": "x", "value": [1], "ts": "2026-01-01T00:00:00Z"}]}, "samples.0.value"),
        ({"samples": [{"value": 1, "ts": "2026-01-01T00:00:00Z"}]}, "samples.0.tag"),
    ],
)
def test_bad_field_is_named(over: dict[str, Any], field: str) -> None:
    with pytest.raises(BatchError) as e:
        parse_batch(payload(**over), "E1", "gw1", "scale")
    assert str(e.value).startswith(field + ":"), str(e.value)


def test_enterprise_from_topic_must_be_a_code() -> None:
    with pytest.raises(BatchError, match="enterprise"):
        parse_batch(payload(), "E1/../x", "gw1")


@pytest.mark.parametrize("value", [True, False, 3, -2.5, "running", None, 2**40])
def test_values_round_trip(value: Any) -> None:
    assert decode_value(*encode_value(value)) == value


def test_bad_sample_has_no_value() -> None:
    b = parse_batch(
        payload(samples=[{"tag": "t", "value": 5, "quality": "bad", "error": "timeout", "ts": "2026-01-01T00:00:00Z"}]),
        "E1", "gw1",
    )
    assert b.points[0].value is None and b.points[0].error == "timeout"
