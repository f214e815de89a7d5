"""Reads through the driver against a real pymodbus server started in-process."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import pytest

from devices.model import BYTE_ORDERS, Access, TagSpec
from drivers.codec import bytes_to_registers, encode
from tests.drivers.modbus.modbus_testkit import Lab, by_tag, device, sim_device

TYPES = {
    "int16": -12345,
    "uint16": 54321,
    "int32": -123456789,
    "uint32": 3_987_654_321,
    "int64": -1_234_567_890_123_456_789,
    "uint64": 18_000_000_000_000_000_000,
    "float32": 512.5,
    "float64": -1234.000244140625,
}


def layout(values: Mapping[str, tuple[str, str, object]], start: int = 0) -> tuple[dict[int, int], list[TagSpec]]:
    """Registers holding each (type, order, value) one after the other, and tags reading them."""
    regs: dict[int, int] = {}
    tags = []
    addr = start
    for name, (value_type, order, value) in values.items():
        words = bytes_to_registers(encode(value, value_type, order))
        for i, w in enumerate(words):
            regs[addr + i] = w
        tags.append(TagSpec(name, f"HR{addr}", value_type, byte_order=order))
        addr += len(words)
    return regs, tags


async def test_every_type_and_byte_order(lab: Lab) -> None:
    values = {f"{t}_{o}": (t, o, v) for t, v in TYPES.items() for o in BYTE_ORDERS}
    regs, tags = layout(values)
    server = await lab.server(sim_device(1, hr=regs))
    drv = await lab.driver(device(server.port, tags))
    samples = by_tag(await drv.read(tags))
    for name, (_, _, value) in values.items():
        assert samples[name].quality == "good", samples[name]
        assert samples[name].value == value, name
    total = len(regs)
    assert len(server.requests(3)) == -(-total // 125)  # contiguous: the fewest 125-register reads


async def test_float_edge_values_and_nan(lab: Lab) -> None:
    values = {"nan": ("float32", "CDAB", math.nan), "inf": ("float32", "ABCD", math.inf),
              "ninf": ("float64", "DCBA", -math.inf), "tiny": ("float64", "BADC", 5e-324)}
    regs, tags = layout(values)
    server = await lab.server(sim_device(1, hr=regs))
    drv = await lab.driver(device(server.port, tags))
    s = by_tag(await drv.read(tags))
    assert math.isnan(s["nan"].value) and s["inf"].value == math.inf and s["ninf"].value == -math.inf
    assert s["tiny"].value == 5e-324


async def test_strings_with_encoding_and_byte_order(lab: Lab) -> None:
    regs: dict[int, int] = {}
    tags = []
    cases = [("ascii", "ABCD", "BELT-01"), ("gbk", "ABCD", "原煤皮带秤"), ("gbk", "BADC", "精煤"),
             ("utf-8", "DCBA", "煤 ok"), ("ascii", "CDAB", "")]
    for i, (enc, order, text) in enumerate(cases):
        words = bytes_to_registers(encode(text, "string", order, size=16, encoding=enc))
        for j, w in enumerate(words):
            regs[i * 8 + j] = w
        tags.append(TagSpec(f"s{i}", f"HR{i * 8}", "string", length=8, encoding=enc, byte_order=order))
    server = await lab.server(sim_device(1, hr=regs))
    drv = await lab.driver(device(server.port, tags))
    got = [s.value for s in await drv.read(tags)]
    assert got == [text for _, _, text in cases]


async def test_register_bits_coils_discrete_inputs_and_input_registers(lab: Lab) -> None:
    pattern = 0b1010_0000_1000_0101
    server = await lab.server(sim_device(
        1, hr={10: pattern, 11: 0, 12: 7}, ir={0: 300, 1: 0xFFFF},
        co={i: i % 3 == 0 for i in range(40)}, di={i: i in (5, 17) for i in range(20)}))
    tags = [TagSpec(f"b{n}", f"HR10.{n}") for n in range(16)]
    tags += [TagSpec("flag", "HR12", "bool"), TagSpec("off", "40012", "bool"),
             TagSpec("ir0", "IR0", "int16", scale=0.1, offset=-10), TagSpec("ir1", "300002", "int16"),
             TagSpec("ir_bit", "IR1.15"),
             TagSpec("co0", "CO0"), TagSpec("co4", "00005"), TagSpec("co39", "CO39", access=Access.READ_WRITE),
             TagSpec("di5", "DI5"), TagSpec("di17", "100018"), TagSpec("di6", "DI6", "bool")]
    drv = await lab.driver(device(server.port, tags))
    s = by_tag(await drv.read(tags))
    assert [s[f"b{n}"].value for n in range(16)] == [bool(pattern >> n & 1) for n in range(16)]
    assert s["flag"].value is True and s["off"].value is False
    assert s["ir0"].value == pytest.approx(20.0) and s["ir1"].value == -1 and s["ir_bit"].value is True
    assert (s["co0"].value, s["co4"].value, s["co39"].value) == (True, False, True)
    assert (s["di5"].value, s["di17"].value, s["di6"].value) == (True, True, False)
    assert all(isinstance(s[n].value, bool) for n in ("co0", "di5", "b0"))
    # one request per table
    assert sorted(x.function for x in server.seen) == [1, 2, 3, 4]


async def test_scaling_and_offset(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={0: 1234, 1: 0xFFFE, 2: 100}))
    tags = [TagSpec("a", "HR0", "uint16", scale=0.01), TagSpec("b", "HR1", "int16", scale=0.5, offset=1),
            TagSpec("c", "HR2", "uint16", offset=-100)]
    drv = await lab.driver(device(server.port, tags))
    s = by_tag(await drv.read(tags))
    assert s["a"].value == pytest.approx(12.34) and s["b"].value == 0.0 and s["c"].value == 0.0


@pytest.mark.parametrize(("gap", "max_gap", "requests"), [(10, 16, 1), (16, 16, 1), (17, 16, 2), (1, 0, 2)])
async def test_gaps_are_bridged_up_to_max_gap(lab: Lab, gap: int, max_gap: int, requests: int) -> None:
    second = 2 + gap
    server = await lab.server(sim_device(1, hr={a: a for a in range(second + 2)}))
    tags = [TagSpec("a", "HR0", "uint32"), TagSpec("b", f"HR{second}", "uint32")]
    drv = await lab.driver(device(server.port, tags, options={"max_gap": max_gap}))
    assert all(x.quality == "good" for x in await drv.read(tags))
    assert len(server.requests(3)) == requests


async def test_no_request_exceeds_the_cap(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={a: a for a in range(300)}, co={a: True for a in range(900)}))
    tags = [TagSpec(f"r{a}", f"HR{a}") for a in range(300)] + [TagSpec(f"c{a}", f"CO{a}") for a in range(900)]
    drv = await lab.driver(device(server.port, tags, options={"max_registers_per_request": 50,
                                                              "max_bits_per_request": 400}))
    s = await drv.read(tags)
    assert [x.value for x in s[:300]] == list(range(300))
    assert all(x.value is True for x in s[300:])
    assert [r.count for r in server.requests(3)] == [50] * 6
    assert [r.count for r in server.requests(1)] == [400, 400, 100]


async def test_one_request_per_tag(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={a: a for a in range(20)}))
    tags = [TagSpec(f"r{a}", f"HR{a}") for a in range(0, 20, 2)]
    drv = await lab.driver(device(server.port, tags, options={"one_request_per_tag": True}))
    assert [x.value for x in await drv.read(tags)] == list(range(0, 20, 2))
    assert len(server.requests(3)) == 10
    assert len(drv.plan(tags)) == 10


async def test_device_busy_degrades_only_its_own_span(lab: Lab) -> None:
    busy = lab.behaviour(busy={100})
    server = await lab.server(sim_device(1, hr={0: 1, 1: 2, 100: 3, 101: 4, 300: 5}, behaviour=busy))
    tags = [TagSpec("a", "HR0"), TagSpec("b", "HR1"), TagSpec("c", "HR100"), TagSpec("d", "HR101"),
            TagSpec("e", "HR300")]
    drv = await lab.driver(device(server.port, tags))
    s = by_tag(await drv.read(tags))
    assert [s[n].value for n in "abe"] == [1, 2, 5]
    for n in "cd":
        assert s[n].quality == "bad" and s[n].value is None
        assert s[n].error is not None and "DEVICE_BUSY" in s[n].error and "exception 6" in s[n].error
    busy.busy.clear()
    s = by_tag(await drv.read(tags))
    assert [s[n].value for n in "abcde"] == [1, 2, 3, 4, 5]
    assert drv.stats()["holes"] == 0  # busy is not a hole


async def test_hole_inside_a_merged_span_is_found_and_never_bridged_again(lab: Lab) -> None:
    # HR0-3 and HR10-13 are mapped, HR4-9 are not: the planner bridges the gap at first
    regs = {a: a + 100 for a in [*range(4), *range(10, 14)]}
    server = await lab.server(sim_device(1, hr=regs))
    tags = [TagSpec("a", "HR0", "uint32"), TagSpec("b", "HR2", "uint16"), TagSpec("c", "HR10", "uint16"),
            TagSpec("d", "HR12", "uint32")]
    drv = await lab.driver(device(server.port, tags))
    assert len(drv.plan(tags)) == 1
    first = by_tag(await drv.read(tags))
    assert all(s.quality == "good" for s in first.values()), first  # good tags read in the same cycle
    assert first["c"].value == 110 and first["b"].value == 102
    assert drv.stats()["holes"] == 1
    assert len(drv.plan(tags)) == 2
    before = len(server.seen)
    again = by_tag(await drv.read(tags))
    assert [again[n].value for n in "bc"] == [102, 110]
    assert len(server.seen) - before == 2  # the rebuilt plan, no refused request


async def test_tag_on_an_unmapped_register_is_bad_and_isolated(lab: Lab) -> None:
    regs = {a: a for a in [*range(0, 5), *range(6, 12)]}  # HR5 is unmapped
    server = await lab.server(sim_device(1, hr=regs))
    tags = [TagSpec(f"r{a}", f"HR{a}") for a in range(12)]
    drv = await lab.driver(device(server.port, tags))
    s = by_tag(await drv.read(tags))
    assert s["r5"].quality == "bad" and "ILLEGAL_ADDRESS" in (s["r5"].error or "")
    assert [s[f"r{a}"].value for a in range(12) if a != 5] == [a for a in range(12) if a != 5]
    assert "unit 1 HR5" in drv.stats()["hole_ranges"]
    before = len(server.seen)
    s = by_tag(await drv.read(tags))
    assert s["r5"].quality == "bad" and s["r4"].value == 4 and s["r6"].value == 6
    assert len(server.seen) - before == 3  # HR0-4, HR5 alone (refused), HR6-11
    assert [(r.address, r.count) for r in server.seen[before:]] == [(0, 5), (5, 1), (6, 6)]


async def test_illegal_function_and_missing_table(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={0: 1}))  # no input registers mapped at all
    tags = [TagSpec("h", "HR0"), TagSpec("i", "IR0")]
    drv = await lab.driver(device(server.port, tags))
    s = by_tag(await drv.read(tags))
    assert s["h"].value == 1
    assert s["i"].quality == "bad" and "ILLEGAL_ADDRESS" in (s["i"].error or "")


async def test_write_only_and_broken_tags_read_as_bad_without_a_request(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={0: 1}))
    tags = [TagSpec("ok", "HR0"), TagSpec("cmd", "HR0", access=Access.WRITE), TagSpec("broken", "HRX")]
    drv = await lab.driver(device(server.port, tags))
    s = by_tag(await drv.read(tags))
    assert s["ok"].value == 1
    assert s["cmd"].quality == "bad" and "write-only" in (s["cmd"].error or "")
    assert s["broken"].quality == "bad" and "address" in (s["broken"].error or "")
    assert len(server.seen) == 1


async def test_plan_is_logged_at_connect_and_stats_are_kept(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    server = await lab.server(sim_device(1, hr={a: a for a in range(60)}, co={0: True}))
    tags = [TagSpec(f"r{a}", f"HR{a}") for a in range(0, 60, 3)] + [TagSpec("c", "CO0")]
    with caplog.at_level(logging.INFO, logger="drivers.modbus"):
        drv = await lab.driver(device(server.port, tags, name="belt_scale_1"))
    assert "belt_scale_1: 2 requests for 21 tags" in caplog.text
    plan = drv.plan(tags)
    assert [p.detail["function"] for p in plan] == [3, 1]
    assert plan[0].description == "FC3 unit 1 HR0-HR57 (58 registers, 20 tags)"
    assert plan[0].tags[:2] == ("r0", "r3")
    await drv.read(tags)
    stats = drv.stats()
    assert stats["requests"] == 2 and stats["errors"] == 0 and stats["holes"] == 0
    assert stats["last_rtt_ms"] is not None and stats["last_rtt_ms"] > 0
    assert (stats["plan_requests"], stats["plan_tags"]) == (2, 21)


async def test_read_samples_keep_the_requested_order_and_duplicates(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={a: a for a in range(10)}))
    t = [TagSpec("x", "HR9"), TagSpec("y", "HR0"), TagSpec("z", "HR5")]
    drv = await lab.driver(device(server.port, t))
    assert [(s.tag, s.value) for s in await drv.read([t[0], t[1], t[0], t[2]])] == [
        ("x", 9), ("y", 0), ("x", 9), ("z", 5)]
    assert [(s.tag, s.value) for s in await drv.read([t[2]])] == [("z", 5)]
