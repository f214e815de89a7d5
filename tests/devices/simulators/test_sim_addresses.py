"""Address notation read by the simulators (CONTRACTS §2)."""

from __future__ import annotations

import pytest

from devices.simulators.addresses import AddressError, ModbusAddress, S7Address, parse_modbus, parse_s7


@pytest.mark.parametrize(("text", "expected"), [
    ("HR0", ModbusAddress("HR", 0)),
    ("ir12", ModbusAddress("IR", 12)),
    ("HR10.3", ModbusAddress("HR", 10, 3)),
    ("CO5", ModbusAddress("CO", 5)),
    ("DI65535", ModbusAddress("DI", 65535)),
    ("40001", ModbusAddress("HR", 0)),
    ("49999", ModbusAddress("HR", 9998)),
    ("400001", ModbusAddress("HR", 0)),
    ("465536", ModbusAddress("HR", 65535)),
    ("30010", ModbusAddress("IR", 9)),
    ("000017", ModbusAddress("CO", 16)),
    ("10001", ModbusAddress("DI", 0)),
])
def test_modbus_forms(text: str, expected: ModbusAddress) -> None:
    assert parse_modbus(text) == expected


@pytest.mark.parametrize("text", ["HR65536", "HR1.16", "CO1.2", "40000", "466000", "X1", "", "20001"])
def test_modbus_bad_forms_say_what_is_allowed(text: str) -> None:
    with pytest.raises(AddressError, match=r"allowed|above|bits"):
        parse_modbus(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("DB1.DBX0.0", S7Address("DB", 1, 0, "X", 0)),
    ("DB1.DBB18", S7Address("DB", 1, 18, "B")),
    ("DB10.DBW4", S7Address("DB", 10, 4, "W")),
    ("DB1.DBD0", S7Address("DB", 1, 0, "D")),
    ("%MW10", S7Address("M", 0, 10, "W")),
    ("M10.7", S7Address("M", 0, 10, "X", 7)),
    ("E0.1", S7Address("I", 0, 0, "X", 1)),
    ("AW2", S7Address("Q", 0, 2, "W")),
    ("QD4", S7Address("Q", 0, 4, "D")),
])
def test_s7_forms(text: str, expected: S7Address) -> None:
    assert parse_s7(text) == expected


@pytest.mark.parametrize("text", ["DB0.DBX0.0", "DB1.DBX0.8", "DB1.DBX0", "M10", "DB1.DBW0.1", "DBX1"])
def test_s7_bad_forms_are_refused(text: str) -> None:
    with pytest.raises(AddressError):
        parse_s7(text)
