"""What goes over the wire, counted by a proxy between the driver and a real snap7 server:
multi-read packing, PDU budgets both ways, TSAPs, and a PLC that refuses PUT/GET access."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devices.model import Access, TagSpec
from drivers.base import TagError
from drivers.s7 import S7Driver
from tests.drivers.s7.s7_testkit import Rig, S7Proxy, s7_device


@pytest.fixture
async def proxy(rig: Rig) -> AsyncIterator[S7Proxy]:
    p = S7Proxy(rig.port)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def scattered_tags() -> list[TagSpec]:
    """50 tags none of which touch another, over DB1, DB2, M, I and Q: 50 spans with max_gap 0."""
    tags = [TagSpec(f"db1_{n}", f"DB1.DBD{n * 40}", "real") for n in range(15)]
    tags += [TagSpec(f"db2_{n}", f"DB2.DBW{n * 40}", "int") for n in range(7)]
    tags += [TagSpec(f"m_{n}", f"M{n * 40}.{n % 8}") for n in range(6)]
    tags += [TagSpec(f"db1b_{n}", f"DB1.DBB{n * 40 + 20}") for n in range(14)]
    tags += [TagSpec("i_0", "IW0", "word"), TagSpec("i_1", "I20.0"), TagSpec("q_0", "QD0", "dint"),
             TagSpec("q_1", "Q20.1")]
    tags += [TagSpec(f"db2s_{n}", f"DB2.DBB{n * 40 + 20}", "string", length=4) for n in range(4)]
    return tags


async def connected(port: int, tags: list[TagSpec], **options: Any) -> S7Driver:
    d = S7Driver(s7_device(port, tags, **options))
    await d.connect()
    return d


async def test_reads_are_packed_into_few_multi_variable_requests(rig: Rig, proxy: S7Proxy) -> None:
    tags = scattered_tags()
    d = await connected(proxy.port, tags, max_gap=0, cpu_state_interval="off")
    try:
        plan = d.plan(tags)
        assert sum(len(p.detail["items"]) for p in plan) == 50
        assert len(plan) == 3  # 50 items, at most 20 per request
        before = proxy.wire.read_jobs
        for _ in range(3):
            samples = await d.read(tags)
            assert all(s.quality == "good" for s in samples), [s for s in samples if s.quality != "good"]
        assert proxy.wire.read_jobs - before == 3 * len(plan)  # counted on the wire, not one request per tag
        assert proxy.wire.read_items[-3:] == [len(p.detail["items"]) for p in plan]
        assert max(proxy.wire.read_items) <= 20
        assert d.stats()["plan"]["requests_per_cycle"] == 3
    finally:
        await d.close()


async def test_request_and_reply_stay_within_the_negotiated_pdu(rig: Rig, proxy: S7Proxy) -> None:
    # large contiguous tags: the reply budget, not the item count, decides
    tags = [TagSpec(f"s{n}", f"DB1.DBB{n * 60}", "string", length=58) for n in range(10)]
    tags += [TagSpec(f"r{n}", f"DB2.DBD{n * 4}", "real") for n in range(60)]
    for pdu in (240, 480):
        d = await connected(proxy.port, tags, pdu_size=pdu, max_gap=0, cpu_state_interval="off")
        try:
            assert d.stats()["pdu_size"] == pdu
            first = len(proxy.wire.request_sizes)
            samples = await d.read(tags)
            assert all(s.quality == "good" for s in samples)
            sent, back = proxy.wire.request_sizes[first:], proxy.wire.reply_sizes[first:]
            assert len(sent) == len(back) == len(d.plan(tags))
            assert max(sent) <= pdu and max(back) <= pdu
            assert max(back) > pdu * 0.8  # and the replies are well filled
        finally:
            await d.close()


async def test_merging_nearby_tags_needs_one_request(rig: Rig, proxy: S7Proxy) -> None:
    tags = [TagSpec(f"t{n}", f"DB1.DBW{n * 6}", "int") for n in range(40)]
    d = await connected(proxy.port, tags, max_gap=32, cpu_state_interval="off")
    try:
        before = proxy.wire.read_jobs
        await d.read(tags)
        assert proxy.wire.read_jobs - before == 1
        assert proxy.wire.read_items[-1] == 1  # 40 INTs 4 bytes apart: one span, one item
    finally:
        await d.close()


async def test_pdu_negotiation_result_is_in_the_statistics(rig: Rig) -> None:
    d = await connected(rig.port, [TagSpec("a", "DB1.DBW0", "int")])
    try:
        s = d.stats()
        assert (s["pdu_requested"], s["pdu_size"]) == (960, 480)  # snap7's server grants at most 480
        assert s["remote_tsap"] == "01.01" and s["local_tsap"] == "01.00"
    finally:
        await d.close()


@pytest.mark.parametrize(
    ("connection", "expected", "shown"),
    [
        ({"rack": 0, "slot": 2}, (0x0100, 0x0102), "01.02"),
        ({"rack": 1, "slot": 3, "connection_type": "basic"}, (0x0100, 0x0323), "03.23"),
        ({"local_tsap": "10.00", "remote_tsap": "03.01"}, (0x1000, 0x0301), "03.01"),
        ({"local_tsap": 0x4D57, "remote_tsap": "0x4D57"}, (0x4D57, 0x4D57), "4D.57"),
    ],
)
async def test_rack_slot_or_tsap_reach_the_iso_connect(rig: Rig, proxy: S7Proxy, connection: dict[str, Any],
                                                       expected: tuple[int, int], shown: str) -> None:
    d = S7Driver(s7_device(proxy.port, [TagSpec("a", "MB0")], connection=connection))
    await d.connect()
    try:
        assert proxy.wire.tsaps[-1] == expected
        assert d.stats()["remote_tsap"] == shown
        assert (await d.read([TagSpec("a", "MB0")]))[0].quality == "good"
    finally:
        await d.close()


async def test_refused_put_get_gives_bad_samples_naming_the_setting(rig: Rig) -> None:
    proxy = S7Proxy(rig.port, refuse=frozenset({"read", "write"}))
    await proxy.start()
    tags = [TagSpec("speed", "DB1.DBD0", "real", access=Access.READ_WRITE), TagSpec("run", "M0.0")]
    d = S7Driver(s7_device(proxy.port, tags))
    try:
        await d.connect()  # the ISO connect and communication setup are not refused
        for _ in range(2):  # stays connected: a refusal is an answer, not a lost link
            samples = await d.read(tags)
            assert [s.quality for s in samples] == ["bad", "bad"]
            for s in samples:
                assert s.value is None
                assert "0x8104" in (s.error or "")
                assert "Permit access with PUT/GET communication from remote partner" in (s.error or "")
                assert "Optimized block access" in (s.error or "")
        assert proxy.wire.refused == 2  # one request per cycle for both tags
        with pytest.raises(TagError, match="PUT/GET"):
            await d.write(tags[0], 1.5)
    finally:
        await d.close()
        await proxy.stop()
