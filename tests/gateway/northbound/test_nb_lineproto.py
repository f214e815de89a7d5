"""Line protocol: measurement = device, tags enterprise/gateway/device, one field per tag."""

from __future__ import annotations

from devices.model import Sample, parse_iso
from gateway.northbound.encoding import samples_json
from gateway.northbound.lineproto import LineFormatter, escape_key, field_value

TS = parse_iso("2026-12-03T08:00:00.125Z")
MS = 1796284800125


def test_field_values_keep_their_type() -> None:
    assert field_value(True) == "true"
    assert field_value(7) == "7i"
    assert field_value(2**64 - 1) == repr(float(2**64 - 1))
    assert field_value(1.5) == "1.5"
    assert field_value('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert field_value("Infinity") is None
    assert field_value([1]) is None


def test_keys_are_escaped() -> None:
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"


def test_batch_becomes_one_line_per_time_and_bad_samples_are_left_out() -> None:
    assert round(parse_iso("2026-12-03T08:00:00.125Z") * 1000) == MS
    fmt = LineFormatter("E1", "gw 1")
    out: list[str] = []
    blob = samples_json([
        Sample("scale", "flow", 512.5, ts=TS),
        Sample("scale", "count", 3, ts=TS),
        Sample.bad("scale", "total", "timeout", ts=TS),
        Sample("scale", "running", True, ts=TS + 1),
    ])
    written, skipped = fmt.lines("scale", blob, out)
    assert (written, skipped) == (3, 1)
    assert out == [
        f"scale,enterprise=E1,gateway=gw\\ 1,device=scale flow=512.5,count=3i {MS}",
        f"scale,enterprise=E1,gateway=gw\\ 1,device=scale running=true {MS + 1000}",
    ]


def test_all_bad_batch_gives_no_line() -> None:
    out: list[str] = []
    assert LineFormatter("E", "g").lines("d", samples_json([Sample.bad("d", "a", "x", ts=TS)]), out) == (0, 1)
    assert out == []
