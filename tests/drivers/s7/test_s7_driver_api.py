"""The Driver interface as the gateway runtime and CLI use it: plan, stats, logging, odd tags."""

from __future__ import annotations

import logging

import pytest

from devices.model import Access, DeviceSpec, TagSpec
from drivers.base import DriverError
from drivers.s7 import S7Driver
from tests.drivers.s7.s7_testkit import Rig, s7_device


def test_bad_connection_settings_fail_at_construction_with_every_problem() -> None:
    with pytest.raises(DriverError, match=r"device plc: host: is required.*rack: 9 is out of range"):
        S7Driver(DeviceSpec("plc", "s7", {"rack": 9}))


def test_plan_without_a_connection_uses_the_requested_pdu() -> None:
    tags = [TagSpec(f"t{n}", f"DB1.DBD{n * 100}", "real") for n in range(30)]
    d = S7Driver(DeviceSpec("plc", "s7", {"host": "127.0.0.1"}, tuple(tags), options={"max_gap": 0}))
    plan = d.plan(tags)
    assert [len(p.tags) for p in plan] == [20, 10]
    assert plan[0].detail["pdu_size"] == 960 and plan[0].detail["request_bytes"] == 12 + 12 * 20
    assert plan[0].description.startswith("request 1: 20 items, 252/960 B out")


async def test_connect_logs_the_plan(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    tags = [TagSpec(f"t{n}", f"DB1.DBW{n * 2}", "int") for n in range(100)] + [TagSpec("m", "M3.1")]
    d = S7Driver(s7_device(rig.port, tags))
    with caplog.at_level(logging.DEBUG, logger="minegate.drivers.s7"):
        await d.connect()
    await d.close()
    text = caplog.text
    assert "PDU 480; 101 tags -> 2 spans -> 2 items in 1 requests per cycle (max_gap 32); CPU run" in text
    assert "request 1: 2 items" in text and "DB1[0..199]" in text and "M[3..3]" in text


async def test_tags_that_cannot_be_read_get_bad_samples_and_the_rest_is_read(rig: Rig) -> None:
    rig.db1[1] = 9
    tags = [TagSpec("ok", "DB1.DBB1"), TagSpec("typo", "DB1.DBW2"), TagSpec("cmd", "DB1.DBX3.0", access=Access.WRITE)]
    d = S7Driver(s7_device(rig.port, tags))
    await d.connect()
    try:
        ok, typo, cmd = await d.read(tags)
        assert (ok.quality, ok.value) == ("good", 9)
        assert typo.quality == "bad" and "config: type: DB1.DBW2 needs an explicit type" in (typo.error or "")
        assert cmd.quality == "bad" and "write-only" in (cmd.error or "")
        await d.write(tags[2], True)  # a write-only tag is still written
        assert rig.db1[3] == 1
    finally:
        await d.close()


async def test_statistics_count_requests_and_describe_the_cycle(rig: Rig) -> None:
    tags = [TagSpec("a", "DB1.DBW0", "int"), TagSpec("b", "DB2.DBW0", "int")]
    d = S7Driver(s7_device(rig.port, tags, cpu_state_interval="off"))
    await d.connect()
    try:
        base = d.stats()["requests"]
        await d.read(tags)
        await d.read(tags)
        s = d.stats()
        assert s["requests"] - base == 2 and s["reads"] == 2 and s["connects"] == 1
        assert s["plan"] == {"tags": 2, "spans": 2, "items": 2, "requests_per_cycle": 1, "payload_bytes": 4,
                             "max_gap": 32}
        assert s["bytes_in"] > 0 and s["bytes_out"] > 0
    finally:
        await d.close()
    assert d.stats()["pdu_size"] is None  # closed


async def test_an_empty_read_is_empty(rig: Rig) -> None:
    d = S7Driver(s7_device(rig.port, []))
    await d.connect()
    try:
        assert await d.read([]) == []
    finally:
        await d.close()


async def test_stale_plan_after_a_tag_changes_address_under_the_same_name(rig: Rig) -> None:
    rig.db1[0:4] = b"\x00\x01\x00\x02"
    d = S7Driver(s7_device(rig.port, []))
    await d.connect()
    try:
        assert (await d.read([TagSpec("a", "DB1.DBW0", "int")]))[0].value == 1
        assert (await d.read([TagSpec("a", "DB1.DBW2", "int")]))[0].value == 2
    finally:
        await d.close()
