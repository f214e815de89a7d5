"""Stored batches and the MQTT payload built from them (CONTRACTS §3, §5)."""

from __future__ import annotations

import math

import orjson

from devices.model import Sample, parse_iso
from gateway.northbound.encoding import DEFLATE, RAW, Envelope, decode, encode, samples_json

TS = parse_iso("2026-12-03T08:00:00.125Z")


def test_samples_array_follows_the_contract() -> None:
    out = orjson.loads(samples_json([
        Sample("d", "flow", 512.5, ts=TS),
        Sample.bad("d", "total", "timeout after 1s", ts=TS),
        Sample("d", "odd", math.inf, "uncertain", ts=TS),
        Sample("d", "nan", math.nan, ts=TS),
    ]))
    assert out[0] == {"tag": "flow", "value": 512.5, "quality": "good", "ts": "2026-12-03T08:00:00.125Z"}
    assert out[1] == {"tag": "total", "value": None, "quality": "bad", "ts": "2026-12-03T08:00:00.125Z",
                      "error": "timeout after 1s"}
    assert out[2]["value"] == "Infinity" and out[3]["value"] is None


def test_large_batches_are_deflated_and_small_ones_not() -> None:
    big = [Sample("d", f"t{i}", i * 1.5, ts=TS) for i in range(50)]
    enc, blob = encode(big)
    assert enc == DEFLATE and len(blob) < len(samples_json(big)) / 3
    assert decode(enc, blob) == samples_json(big)
    enc, blob = encode([Sample("d", "a", 1, ts=TS)])
    assert enc == RAW and decode(enc, blob) == samples_json([Sample("d", "a", 1, ts=TS)])


def test_unknown_value_types_do_not_fail() -> None:
    assert orjson.loads(samples_json([Sample("d", "a", b"\x01", ts=TS)]))[0]["value"] == "b'\\x01'"


def test_envelope_is_the_contract_payload() -> None:
    env = Envelope("gw-1", "ab12")
    body = orjson.loads(env.wrap("belt_scale_1", 42, samples_json([Sample("d", "flow", 1.0, ts=TS)])))
    assert body == {"gateway": "gw-1", "device": "belt_scale_1", "epoch": "ab12", "seq": 42,
                    "samples": [{"tag": "flow", "value": 1.0, "quality": "good", "ts": "2026-12-03T08:00:00.125Z"}]}
    # names that need escaping stay valid JSON
    assert orjson.loads(env.wrap('we"ird', 1, b"[]"))["device"] == 'we"ird'
