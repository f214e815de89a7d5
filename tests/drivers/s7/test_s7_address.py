"""Siemens notation (CONTRACTS §2) -> S7Address, and clear refusals of everything else."""

from __future__ import annotations

import pytest

from drivers.s7.address import AREA_DB, AREA_I, AREA_M, AREA_Q, AddressError, S7Address, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DB1.DBX0.0", S7Address("DB", 1, 0, "X", 0)),
        ("DB1.DBB0", S7Address("DB", 1, 0, "B")),
        ("DB1.DBW0", S7Address("DB", 1, 0, "W")),
        ("DB12.DBD100", S7Address("DB", 12, 100, "D")),
        ("%DB1.DBX3.7", S7Address("DB", 1, 3, "X", 7)),
        ("db1.dbd4", S7Address("DB", 1, 4, "D")),
        ("  DB2.DBW8 ", S7Address("DB", 2, 8, "W")),
        ("M10.0", S7Address("M", 0, 10, "X", 0)),
        ("MX10.1", S7Address("M", 0, 10, "X", 1)),
        ("MB10", S7Address("M", 0, 10, "B")),
        ("MW10", S7Address("M", 0, 10, "W")),
        ("%MD10", S7Address("M", 0, 10, "D")),
        ("I0.0", S7Address("I", 0, 0, "X", 0)),
        ("IB0", S7Address("I", 0, 0, "B")),
        ("IW2", S7Address("I", 0, 2, "W")),
        ("ID4", S7Address("I", 0, 4, "D")),
        ("E0.3", S7Address("I", 0, 0, "X", 3)),
        ("EW2", S7Address("I", 0, 2, "W")),
        ("Q0.0", S7Address("Q", 0, 0, "X", 0)),
        ("QB1", S7Address("Q", 0, 1, "B")),
        ("QW2", S7Address("Q", 0, 2, "W")),
        ("QD4", S7Address("Q", 0, 4, "D")),
        ("A1.5", S7Address("Q", 0, 1, "X", 5)),
        ("AB1", S7Address("Q", 0, 1, "B")),
        ("%AD4", S7Address("Q", 0, 4, "D")),
    ],
)
def test_siemens_notation_is_parsed(text: str, expected: S7Address) -> None:
    assert parse_address(text) == expected


def test_area_codes_are_the_s7_wire_codes() -> None:
    assert parse_address("DB1.DBB0").area_code == AREA_DB == 0x84
    assert parse_address("MB0").area_code == AREA_M == 0x83
    assert parse_address("E0.0").area_code == AREA_I == 0x81
    assert parse_address("A0.0").area_code == AREA_Q == 0x82


@pytest.mark.parametrize("text", ["DB1.DBX0.0", "DB7.DBD12", "M10.0", "MW10", "I0.7", "QB3", "QD4"])
def test_canonical_text_round_trips(text: str) -> None:
    assert str(parse_address(text)) == text
    assert parse_address(str(parse_address(text))) == parse_address(text)


def test_german_areas_print_in_english() -> None:
    assert str(parse_address("E1.2")) == "I1.2"
    assert str(parse_address("AW4")) == "QW4"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["empty", "allowed"]),
        ("HR0", ["not an S7 address", "DB1.DBX0.0", "MW10"]),
        ("DB1.DBX0", ["needs a bit number", "DB1.DBX0.0"]),
        ("M10", ["needs a bit number", "M10.0"]),
        ("DB1.DBX0.8", ["bit 8", "0-7"]),
        ("I0.9", ["bit 9", "0-7"]),
        ("DB1.DBB0.3", ["takes no bit number", "DB1.DBX0.3"]),
        ("MW4.1", ["takes no bit number", "M4.1"]),
        ("DB0.DBW0", ["DB number 0", "1-65535"]),
        ("DB70000.DBW0", ["out of range"]),
        ("DB1.DBW70000", ["byte offset", "0-65535"]),
        ("DB1.DBD65534", ["ends beyond"]),
        ("DB1.DBQ0", ["not an S7 address"]),
        ("T5", ["not an S7 address"]),
        ("DB1.DBW-2", ["not an S7 address"]),
    ],
)
def test_bad_addresses_say_what_is_wrong_and_allowed(text: str, words: list[str]) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(text)
    for w in words:
        assert w in str(info.value), str(info.value)
