"""Writes: function codes, inverse scaling, register bits, refusals; always read back."""

from __future__ import annotations

import asyncio

import pytest

from devices.model import BYTE_ORDERS, Access, TagSpec
from drivers.base import TagError
from tests.drivers.modbus.modbus_testkit import Lab, by_tag, device, sim_device

RW = Access.READ_WRITE


async def test_single_register_uses_fc6_and_wider_values_fc16(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={a: 0 for a in range(20)}))
    tags = [TagSpec("sp", "HR0", "int16", access=RW, scale=0.1), TagSpec("total", "HR2", "uint32", access=RW),
            TagSpec("f", "HR4", "float32", byte_order="CDAB", access=RW)]
    drv = await lab.driver(device(server.port, tags))
    await drv.write(tags[0], 12.3)
    await drv.write(tags[1], 3_000_000_000)
    await drv.write(tags[2], -1.25)
    assert [r.function for r in server.seen] == [6, 16, 16]
    s = by_tag(await drv.read(tags))
    assert s["sp"].value == pytest.approx(12.3) and s["total"].value == 3_000_000_000 and s["f"].value == -1.25


async def test_force_multiple_write_uses_fc16_and_fc15(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={0: 0, 1: 0}, co={a: False for a in range(16)}))
    tags = [TagSpec("r", "HR0", "uint16", access=RW), TagSpec("c", "CO3", access=RW)]
    drv = await lab.driver(device(server.port, tags, options={"force_multiple_write": True}))
    await drv.write(tags[0], 7)
    await drv.write(tags[1], True)
    assert [r.function for r in server.seen] == [16, 15]
    s = by_tag(await drv.read(tags))
    assert (s["r"].value, s["c"].value) == (7, True)


async def test_coil_uses_fc5(lab: Lab) -> None:
    server = await lab.server(sim_device(1, co={a: True for a in range(16)}))
    t = TagSpec("pump", "000005", access=RW)
    drv = await lab.driver(device(server.port, [t]))
    await drv.write(t, "off")
    assert [r.function for r in server.seen] == [5]
    assert (await drv.read([t]))[0].value is False


@pytest.mark.parametrize("order", BYTE_ORDERS)
@pytest.mark.parametrize(("value_type", "value"), [("int16", -2), ("uint32", 4_000_000_001), ("int64", -(2**62) - 5),
                                                   ("float64", 1e-3), ("uint64", 2**64 - 1)])
async def test_written_values_read_back_in_every_order(lab: Lab, value_type: str, value: object, order: str) -> None:
    server = await lab.server(sim_device(1, hr={a: 0 for a in range(4)}))
    t = TagSpec("v", "HR0", value_type, byte_order=order, access=RW)
    drv = await lab.driver(device(server.port, [t]))
    await drv.write(t, str(value) if value_type == "uint64" else value)
    assert (await drv.read([t]))[0].value == value


async def test_string_write_pads_and_reads_back(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={a: 0x4141 for a in range(6)}))
    t = TagSpec("name", "HR0", "string", length=4, encoding="gbk", byte_order="BADC", access=RW)
    drv = await lab.driver(device(server.port, [t]))
    await drv.write(t, "精煤")
    assert (await drv.read([t]))[0].value == "精煤"
    with pytest.raises(TagError, match="does not fit"):
        await drv.write(t, "精煤精煤精")


async def test_register_bit_is_read_modify_write(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={10: 0b1000_0000_0000_0001}))
    bit3 = TagSpec("b3", "HR10.3", access=RW)
    bit0 = TagSpec("b0", "HR10.0", access=RW)
    word = TagSpec("w", "HR10", "uint16")
    drv = await lab.driver(device(server.port, [bit3, bit0, word]))
    await drv.write(bit3, True)
    await drv.write(bit0, False)
    assert [r.function for r in server.seen] == [3, 6, 3, 6]
    s = by_tag(await drv.read([bit3, bit0, word]))
    assert (s["b3"].value, s["b0"].value, s["w"].value) == (True, False, 0b1000_0000_0000_1000)


async def test_register_bit_with_mask_write_uses_fc22(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={10: 0b0101}))
    t = TagSpec("b1", "HR10.1", access=RW)
    drv = await lab.driver(device(server.port, [t], options={"mask_write": True}))
    await drv.write(t, True)
    await drv.write(TagSpec("b0", "HR10.0", access=RW), 0)
    assert [r.function for r in server.seen] == [22, 22]
    assert (await drv.read([TagSpec("w", "HR10")]))[0].value == 0b0110


async def test_concurrent_bit_writes_on_one_register_do_not_lose_updates(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={0: 0}))
    bits = [TagSpec(f"b{n}", f"HR0.{n}", access=RW) for n in range(16)]
    drivers = [await lab.driver(device(server.port, bits, name=f"d{i}")) for i in range(4)]
    await asyncio.gather(*(drivers[n % 4].write(bits[n], True) for n in range(16)))
    assert (await drivers[0].read([TagSpec("w", "HR0")]))[0].value == 0xFFFF


async def test_refused_and_invalid_writes_raise_tag_errors(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={0: 0}))
    ok = TagSpec("ok", "HR0", "int16", access=RW, scale=0.1)
    drv = await lab.driver(device(server.port, [ok]))
    with pytest.raises(TagError, match="read-only"):
        await drv.write(TagSpec("ro", "HR0"), 1)
    with pytest.raises(TagError, match=r"ILLEGAL_ADDRESS.*exception 2"):
        await drv.write(TagSpec("gone", "HR50", access=RW), 1)
    with pytest.raises(TagError, match="out of range for int16"):
        await drv.write(ok, 4000)  # 40000 raw does not fit an int16
    with pytest.raises(TagError, match="not a number"):
        await drv.write(ok, "lots")
    with pytest.raises(TagError, match="not a bool"):
        await drv.write(TagSpec("b", "HR0.1", access=RW), "maybe")
    with pytest.raises(TagError, match="address"):
        await drv.write(TagSpec("bad", "HR0.99", access=RW), 1)
    assert (await drv.read([ok]))[0].value == 0.0
