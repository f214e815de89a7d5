"""Every S7 type in every area, read and written against a real (in-process) snap7 server."""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from snap7.datatypes import S7WordLen

from devices.model import Access, TagSpec
from drivers.base import TagError
from drivers.s7 import S7Driver
from tests.drivers.s7.s7_testkit import Rig, s7_device

RW = Access.READ_WRITE

# name, address, type, extra fields, value, (memory, offset, raw bytes)
CASES: list[tuple[str, str, str | None, dict[str, Any], Any, tuple[str, int, bytes]]] = [
    ("b_db", "DB1.DBX0.5", None, {}, True, ("db1", 0, b"\x20")),
    ("byte", "DB1.DBB1", None, {}, 200, ("db1", 1, b"\xc8")),
    ("char", "DB1.DBB2", "char", {}, "A", ("db1", 2, b"A")),
    ("sint", "DB1.DBB3", "sint", {}, -5, ("db1", 3, b"\xfb")),
    ("word", "DB1.DBW4", "word", {}, 0xBEEF, ("db1", 4, b"\xbe\xef")),
    ("int", "DB1.DBW6", "int", {}, -1234, ("db1", 6, struct.pack(">h", -1234))),
    ("uint", "DB1.DBW8", "uint", {}, 65000, ("db1", 8, struct.pack(">H", 65000))),
    ("dword", "DB1.DBD10", "dword", {}, 0xDEADBEEF, ("db1", 10, b"\xde\xad\xbe\xef")),
    ("dint", "DB1.DBD14", "dint", {}, -123456789, ("db1", 14, struct.pack(">i", -123456789))),
    ("udint", "DB1.DBD18", "udint", {}, 4_000_000_000, ("db1", 18, struct.pack(">I", 4_000_000_000))),
    ("real", "DB1.DBD22", "real", {}, 3.25, ("db1", 22, struct.pack(">f", 3.25))),
    ("lreal", "DB1.DBB26", "lreal", {}, -2.5e100, ("db1", 26, struct.pack(">d", -2.5e100))),
    ("lint", "DB1.DBB34", "lint", {}, -(2**60), ("db1", 34, struct.pack(">q", -(2**60)))),
    ("ulint", "DB1.DBB42", "ulint", {}, 2**63 + 5, ("db1", 42, struct.pack(">Q", 2**63 + 5))),
    ("text", "DB1.DBB50", "string", {"length": 20}, "belt 3", ("db1", 50, b"\x14\x06belt 3")),
    ("gbk", "DB1.DBB80", "string", {"length": 20, "encoding": "gbk"}, "原煤皮带",
     ("db1", 80, b"\x14\x08" + "原煤皮带".encode("gbk"))),
    ("utf8", "DB2.DBB0", "string", {"length": 30, "encoding": "utf-8"}, "精煤 t/h",
     ("db2", 0, b"\x1e" + bytes([len("精煤 t/h".encode())]) + "精煤 t/h".encode())),
    ("m_bit", "M0.3", None, {}, True, ("m", 0, b"\x08")),
    ("m_int", "MW2", "int", {}, -2, ("m", 2, b"\xff\xfe")),
    ("m_real", "MD4", "real", {}, 0.5, ("m", 4, struct.pack(">f", 0.5))),
    ("i_bit", "E0.1", None, {}, True, ("i", 0, b"\x02")),
    ("i_word", "IW2", "word", {}, 513, ("i", 2, b"\x02\x01")),
    ("i_dint", "%ID4", "dint", {}, 70000, ("i", 4, struct.pack(">i", 70000))),
    ("q_bit", "Q0.7", None, {}, True, ("q", 0, b"\x80")),
    ("q_byte", "AB1", None, {}, 7, ("q", 1, b"\x07")),
    ("q_int", "QW2", "int", {}, 300, ("q", 2, struct.pack(">h", 300))),
    ("q_real", "QD4", "real", {}, -1.5, ("q", 4, struct.pack(">f", -1.5))),
]


def tags_of(access: Access = Access.READ) -> list[TagSpec]:
    return [TagSpec(n, a, t, access=access, **kw) for n, a, t, kw, _, _ in CASES]


@pytest.fixture
async def driver(rig: Rig) -> AsyncIterator[S7Driver]:
    d = S7Driver(s7_device(rig.port, tags_of(RW)))
    await d.connect()
    try:
        yield d
    finally:
        await d.close()


def poke(rig: Rig, memory: str, offset: int, raw: bytes) -> None:
    getattr(rig, memory)[offset: offset + len(raw)] = raw


def peek(rig: Rig, memory: str, offset: int, n: int) -> bytes:
    return bytes(getattr(rig, memory)[offset: offset + n])


async def test_every_type_in_every_area_reads_big_endian(rig: Rig, driver: S7Driver) -> None:
    for *_, (memory, offset, raw) in CASES:
        poke(rig, memory, offset, raw)
    samples = await driver.read(tags_of())
    got = {s.tag: s for s in samples}
    for name, *_, value, _ in CASES:
        assert got[name].quality == "good", got[name]
        assert got[name].value == value, (name, got[name].value)


async def test_every_type_writes_and_reads_back(rig: Rig, driver: S7Driver) -> None:
    for name, address, type_, kw, value, (memory, offset, raw) in CASES:
        tag = TagSpec(name, address, type_, access=RW, **kw)
        if type_ == "string":
            poke(rig, memory, offset, raw[:1])  # the declared maximum a PLC keeps in byte 0
        await driver.write(tag, value)
        assert peek(rig, memory, offset, len(raw)) == raw, name
        (sample,) = await driver.read([tag])
        assert sample.value == value, name


async def test_a_bit_write_is_a_bit_write_not_read_modify_write(rig: Rig, driver: S7Driver) -> None:
    rig.db1[100] = 0b1010_0101
    on, off = TagSpec("on", "DB1.DBX100.1", access=RW), TagSpec("off", "DB1.DBX100.7", access=RW)
    reads_before = rig.plc.reads()
    await driver.write(on, True)
    await driver.write(off, False)
    assert rig.db1[100] == 0b0010_0111  # the other six bits untouched
    assert rig.plc.reads() == reads_before  # no read of the byte before writing it
    writes = [j for j in rig.plc.jobs if j[0] == "write"]
    assert writes[-2:] == [("write", S7WordLen.BIT, 100, 1), ("write", S7WordLen.BIT, 100, 7)]
    await driver.write(on, "off")
    assert rig.db1[100] == 0b0010_0101


async def test_string_write_keeps_the_declared_length_and_refuses_longer_text(rig: Rig, driver: S7Driver) -> None:
    rig.db1[200:203] = b"\x0a\x02ok"[:3]  # the PLC declared STRING[10]
    tag = TagSpec("s", "DB1.DBB200", "string", length=20, encoding="gbk", access=RW)
    await driver.write(tag, "煤仓五")  # 6 bytes in gbk
    assert rig.db1[200] == 10 and rig.db1[201] == 6 and bytes(rig.db1[202:208]) == "煤仓五".encode("gbk")
    before = bytes(rig.db1[200:230])
    with pytest.raises(TagError, match=r"at most 10"):
        await driver.write(tag, "煤仓五号皮带机")  # 14 bytes: fits the tag's 20, not the PLC's 10
    with pytest.raises(TagError, match=r"at most 4"):
        await driver.write(TagSpec("s4", "DB1.DBB200", "string", length=4, encoding="gbk", access=RW), "煤仓五")
    assert bytes(rig.db1[200:230]) == before
    assert (await driver.read([tag]))[0].value == "煤仓五"


async def test_long_string_crosses_pdu_boundaries(rig: Rig) -> None:
    text = "x" * 200 + "END"
    rig.db1[300:302] = bytes([254, len(text)])
    rig.db1[302:302 + len(text)] = text.encode()
    tag = TagSpec("long", "DB1.DBB300", "string", access=RW)  # STRING[254] = 256 bytes
    d = S7Driver(s7_device(rig.port, [tag], pdu_size=240))
    await d.connect()
    try:
        assert d.stats()["pdu_size"] == 240
        assert sum(len(p.detail["items"]) for p in d.plan([tag])) == 2
        assert (await d.read([tag]))[0].value == text
        await d.write(tag, "y" * 250)  # more than one 240-byte write request can carry
        assert rig.db1[300] == 254 and rig.db1[301] == 250 and bytes(rig.db1[302:552]) == b"y" * 250
        assert (await d.read([tag]))[0].value == "y" * 250
    finally:
        await d.close()


async def test_scaling_applies_on_read_and_inverts_on_write(rig: Rig, driver: S7Driver) -> None:
    tag = TagSpec("temp", "MW10", "int", scale=0.1, offset=-20.0, access=RW)
    rig.m[10:12] = struct.pack(">h", 455)
    assert math.isclose((await driver.read([tag]))[0].value, 25.5)
    await driver.write(tag, 30.0)
    assert struct.unpack(">h", bytes(rig.m[10:12]))[0] == 500
    with pytest.raises(TagError, match=r"out of range for int16"):
        await driver.write(tag, 4000)  # raw 40200 does not fit an INT


async def test_refused_writes_say_why(rig: Rig, driver: S7Driver) -> None:
    with pytest.raises(TagError, match="read-only"):
        await driver.write(TagSpec("ro", "DB1.DBW4", "int"), 1)
    with pytest.raises(TagError, match="not a bool"):
        await driver.write(TagSpec("b", "DB1.DBX0.0", access=RW), "maybe")
    with pytest.raises(TagError, match=r"tag x: PLC refused the write \(S7 error 0x8404"):  # snap7's answer
        await driver.write(TagSpec("x", "DB9.DBW0", "int", access=RW), 1)
    with pytest.raises(TagError, match="one byte"):
        await driver.write(TagSpec("c", "DB1.DBB2", "char", access=RW), "AB")


async def test_a_word_swapped_real_copied_from_another_device(rig: Rig, driver: S7Driver) -> None:
    raw = struct.pack(">f", 512.5)
    rig.db2[100:104] = raw[2:] + raw[:2]
    tag = TagSpec("flow", "DB2.DBD100", "real", byte_order="CDAB")
    assert (await driver.read([tag]))[0].value == 512.5
