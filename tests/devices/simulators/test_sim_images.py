"""Register and PLC memory images: every type and byte order lands where a driver looks."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.model import TagSpec
from devices.simulators.modbus_image import ModbusImage, ModbusLayoutError
from devices.simulators.s7_image import S7Image, S7LayoutError

ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")


@settings(max_examples=200, deadline=None)
@given(value=st.integers(-(2**31), 2**31 - 1), order=st.sampled_from(ORDERS))
def test_int32_in_every_byte_order(value: int, order: str) -> None:
    img = ModbusImage([TagSpec("x", "HR10", "int32", byte_order=order)])
    assert img.set("x", value) == value
    regs = img.regs["HR"][10:12]
    big = struct.pack(">i", value)
    expected = {"ABCD": big, "CDAB": big[2:] + big[:2], "BADC": big[1::-1] + big[3:1:-1], "DCBA": big[::-1]}
    assert struct.pack(">2H", *regs) == expected[order]


@settings(max_examples=100, deadline=None)
@given(value=st.floats(-1e6, 1e6, allow_nan=False), order=st.sampled_from(ORDERS))
def test_float64_round_trips(value: float, order: str) -> None:
    img = ModbusImage([TagSpec("x", "IR0", "float64", byte_order=order)])
    assert img.set("x", value) == value


def test_scaled_integers_are_quantised_and_clamped() -> None:
    img = ModbusImage([TagSpec("t", "HR0", "uint16", scale=0.01), TagSpec("n", "HR1", "int16", scale=0.1)])
    assert img.set("t", 1.234) == pytest.approx(1.23)
    assert img.set("t", 1e9) == pytest.approx(655.35)  # a broken sensor pegs the register
    assert img.set("n", -12.36) == pytest.approx(-12.4)
    assert img.regs["HR"][1] == 0x10000 - 124


def test_register_bits_share_a_register_and_coils_stand_alone() -> None:
    img = ModbusImage([TagSpec("a", "HR8.0", "bool"), TagSpec("b", "HR8.2", "bool"), TagSpec("c", "CO3")])
    img.set("a", True)
    img.set("b", True)
    img.set("c", True)
    assert img.regs["HR"][8] == 0b101 and img.bits["CO"][3] is True
    img.set("a", False)
    assert img.regs["HR"][8] == 0b100 and img.get("b") is True


def test_gbk_string_is_cut_on_a_character_boundary() -> None:
    img = ModbusImage([TagSpec("p", "HR0", "string", length=2, encoding="gbk")])
    assert img.set("p", "L蒙蒙") == "L蒙"  # 3 bytes used, the next character would need a fifth
    assert img.set("p", "") == ""


@pytest.mark.parametrize(("tags", "message"), [
    ([TagSpec("a", "HR0", "uint32"), TagSpec("b", "HR1", "uint16")], "overlaps tag a"),
    ([TagSpec("a", "HR0", "uint16"), TagSpec("b", "HR0.1", "bool")], "overlaps tag a"),
    ([TagSpec("a", "HR0.1", "bool"), TagSpec("b", "HR0.1", "bool")], "overlaps tag a"),
    ([TagSpec("a", "HR0", "string")], "needs length"),
    ([TagSpec("a", "CO0", "uint16")], "type must be bool"),
    ([TagSpec("a", "HR0", "real")], "cannot live in registers"),
    ([TagSpec("a", "HR65535", "uint32")], "past address 65535"),
])
def test_modbus_layout_errors(tags: list[TagSpec], message: str) -> None:
    with pytest.raises(ModbusLayoutError, match=message):
        ModbusImage(tags)


def test_s7_types_strings_and_bits() -> None:
    img = S7Image([
        TagSpec("run", "DB1.DBX0.0"), TagSpec("trip", "DB1.DBX0.3"), TagSpec("state", "DB1.DBB1"),
        TagSpec("speed", "DB1.DBD2", "real"), TagSpec("count", "DB1.DBW6", "int"),
        TagSpec("energy", "DB1.DBB8", "lreal"), TagSpec("msg", "DB1.DBB16", "string", length=8),
        TagSpec("alive", "%MW10", "word"),
    ])
    for name, value in [("run", True), ("trip", True), ("state", 4), ("speed", 3.5), ("count", -2),
                        ("energy", 12345.678), ("msg", "TRIP: SLIP"), ("alive", 65535)]:
        img.put(name, img.encode(name, value))
    db = img.areas[("DB", 1)]
    assert db[0] == 0b1001 and db[1] == 4
    assert struct.unpack(">f", db[2:6])[0] == 3.5 and struct.unpack(">h", db[6:8])[0] == -2
    assert struct.unpack(">d", db[8:16])[0] == 12345.678
    assert db[16] == 8 and db[17] == 8 and bytes(db[18:26]) == b"TRIP: SL"
    assert img.get("msg") == "TRIP: SL" and img.get("trip") is True
    assert img.areas[("M", 0)] == bytearray(b"\x00" * 10 + b"\xff\xff")


@pytest.mark.parametrize(("tags", "message"), [
    ([TagSpec("a", "DB1.DBD0")], "needs an explicit type"),
    ([TagSpec("a", "DB1.DBW0", "real")], "takes 4 bytes"),
    ([TagSpec("a", "DB1.DBD0", "string")], "starts at a byte address"),
    ([TagSpec("a", "DB1.DBD0", "dint"), TagSpec("b", "DB1.DBW2", "int")], "overlaps tag a"),
    ([TagSpec("a", "DB1.DBX0.0", "real")], "type must be bool"),
    ([TagSpec("a", "DB1.DBB0", "string", length=300)], "allowed: 1-254"),
])
def test_s7_layout_errors(tags: list[TagSpec], message: str) -> None:
    with pytest.raises(S7LayoutError, match=message):
        S7Image(tags)
