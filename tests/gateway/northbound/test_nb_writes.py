"""Write requests reach a driver only when everything allows it (CONTRACTS §5)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from nb_support import devices

from devices.model import iso_ms
from gateway.northbound.writes import WriteRefused, check_write, reply

NOW = 1_800_000_000.0
DEVICES = {d.name: d for d in devices()}


def req(**over: Any) -> bytes:
    body = {"id": "r1", "tag": "setpoint", "value": 12.5, "expires": iso_ms(NOW + 30)}
    body.update(over)
    return orjson.dumps({k: v for k, v in body.items() if v is not ...})


def check(payload: bytes, device: str = "scale", writes: bool = True) -> Any:
    return check_write(payload, device, writes_enabled=writes, devices=DEVICES, now=NOW)


def test_allowed_request() -> None:
    r = check(req())
    assert (r.id, r.device, r.tag, r.value) == ("r1", "scale", "setpoint", 12.5)


@pytest.mark.parametrize(
    ("payload", "device", "writes", "reason"),
    [
        (req(), "scale", False, "writes are disabled"),
        (req(tag="flow"), "scale", True, "read-only"),
        (req(expires=iso_ms(NOW - 1)), "scale", True, "expired"),
        (req(expires=...), "scale", True, "expires: missing"),
        (req(expires="tomorrow"), "scale", True, "not an ISO 8601 time"),
        (req(tag="nope"), "scale", True, "has no tag 'nope'"),
        (req(), "crusher", True, "unknown device"),
        (req(value=...), "scale", True, "value: missing"),
        (req(tag=...), "scale", True, "tag: missing"),
    ],
)
def test_refusals_carry_the_id_and_a_reason(payload: bytes, device: str, writes: bool, reason: str) -> None:
    with pytest.raises(WriteRefused) as err:
        check(payload, device, writes)
    assert err.value.request_id == "r1"
    assert reason in err.value.reason


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", orjson.dumps({"tag": "setpoint"})])
def test_unreadable_requests_are_refused_without_id(payload: bytes) -> None:
    with pytest.raises(WriteRefused) as err:
        check(payload)
    assert err.value.request_id is None


def test_expiry_with_offset_is_understood() -> None:
    # 08:00:30+08:00 is 00:00:30Z: later than NOW only if the offset is applied
    assert check(req(expires="2027-01-15T16:00:30+08:00")).expires == NOW + 30


def test_reply_shape() -> None:
    assert orjson.loads(reply("r1", False, "no")) == {"id": "r1", "ok": False, "error": "no"}
    assert orjson.loads(reply(7, True, None, {"tag": "a"}))["sample"] == {"tag": "a"}
