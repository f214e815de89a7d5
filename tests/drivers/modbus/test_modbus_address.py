"""Modbus address forms of CONTRACTS §2 and their errors."""

from __future__ import annotations

import pytest

from drivers.modbus.address import AddressError, ModbusAddress, Table, parse_address


@pytest.mark.parametrize(
    ("text", "table", "address", "bit"),
    [
        ("HR0", Table.HR, 0, None),
        ("HR65535", Table.HR, 65535, None),
        ("hr10", Table.HR, 10, None),
        (" IR7 ", Table.IR, 7, None),
        ("CO0", Table.CO, 0, None),
        ("DI1999", Table.DI, 1999, None),
        ("HR10.3", Table.HR, 10, 3),
        ("IR4.15", Table.IR, 4, 15),
        ("HR10.0", Table.HR, 10, 0),
        ("40001", Table.HR, 0, None),
        ("49999", Table.HR, 9998, None),
        ("400001", Table.HR, 0, None),
        ("465536", Table.HR, 65535, None),
        ("30001", Table.IR, 0, None),
        ("365536", Table.IR, 65535, None),
        ("00001", Table.CO, 0, None),
        ("000017", Table.CO, 16, None),
        ("00017", Table.CO, 16, None),
        ("10001", Table.DI, 0, None),
        ("165536", Table.DI, 65535, None),
        ("40011.3", Table.HR, 10, 3),
    ],
)
def test_accepted_forms(text: str, table: Table, address: int, bit: int | None) -> None:
    assert parse_address(text) == ModbusAddress(table, address, bit)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("HR65536", "out of range (allowed: 0..65535)"),
        ("XX10", "unknown table 'XX'"),
        ("HR10.16", "bit 16 is out of range (allowed: 0..15"),
        ("CO10.1", "single bit already"),
        ("DI3.0", "single bit already"),
        ("40000", "1-based"),
        ("400000", "1-based"),
        ("465537", "runs from 400001 to 465536"),
        ("20001", "start with 0 (coil), 1 (discrete input), 3 (input register) or 4"),
        ("4001", "neither a 5- nor a 6-digit"),
        ("4000001", "neither a 5- nor a 6-digit"),
        ("17", "neither a 5- nor a 6-digit"),
        ("", "empty address"),
        ("HR-1", "cannot read address"),
        ("HR1.2.3", "cannot read address"),
        ("ns=2;s=Flow", "cannot read address"),
        ("DB1.DBD0", "cannot read address"),
    ],
)
def test_errors_name_the_problem_and_what_is_allowed(text: str, fragment: str) -> None:
    with pytest.raises(AddressError) as err:
        parse_address(text)
    assert fragment in str(err.value)


def test_address_prints_back_in_canonical_form() -> None:
    assert str(parse_address("40011.3")) == "HR10.3"
    assert str(parse_address("000017")) == "CO16"
