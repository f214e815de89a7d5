"""Modbus addresses as users write them (CONTRACTS §2), parsed into (table, address, bit).

Accepted: `HR<n>` `IR<n>` `CO<n>` `DI<n>` with the 0-based protocol address `n` (0–65535), a
register bit `HR10.3` / `IR4.15`, and the Modicon numbers printed in device manuals: 5-digit
`40001`–`49999` (= HR0–HR9998) and 6-digit `400001`–`465536` (= HR0–HR65535), likewise `3…` input
registers, `0…` coils and `1…` discrete inputs. Modicon numbers are 1-based, so `40001` is HR0;
a leading zero is significant (`000017` is coil 16), which is why the loader passes addresses
as the text written in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class AddressError(ValueError):
    """A malformed or out-of-range address; the message says what is allowed."""


class Table(Enum):
    """The four Modbus data tables with their read function codes."""

    HR = ("HR", "holding register", 3, False, True)
    IR = ("IR", "input register", 4, False, False)
    CO = ("CO", "coil", 1, True, True)
    DI = ("DI", "discrete input", 2, True, False)

    def __init__(self, prefix: str, label: str, read_fc: int, is_bits: bool, writable: bool) -> None:
        self.prefix = prefix
        self.label = label
        self.read_fc = read_fc
        self.is_bits = is_bits
        self.writable = writable


_MODICON_TABLE = {"4": Table.HR, "3": Table.IR, "0": Table.CO, "1": Table.DI}
_PREFIXED = re.compile(r"(?P<table>[A-Za-z]{2})(?P<num>\d+)(?:\.(?P<bit>\d+))?")
_MODICON = re.compile(r"(?P<num>\d{5,6})(?:\.(?P<bit>\d+))?")
MAX_ADDRESS = 65535
ALLOWED_FORMS = "HR0..HR65535, IR.., CO.., DI.., HR10.3 (register bit 0-15), Modicon 40001 or 400001"


@dataclass(frozen=True, slots=True)
class ModbusAddress:
    table: Table
    address: int
    bit: int | None = None

    def __str__(self) -> str:
        text = f"{self.table.prefix}{self.address}"
        return text if self.bit is None else f"{text}.{self.bit}"


def parse_address(text: str) -> ModbusAddress:
    """Parse one address; raise `AddressError` naming the problem and the allowed forms."""
    raw = str(text).strip()
    if not raw:
        raise AddressError(f"empty address (allowed: {ALLOWED_FORMS})")
    m = _PREFIXED.fullmatch(raw)
    if m:
        prefix = m["table"].upper()
        try:
            table = Table[prefix]
        except KeyError:
            raise AddressError(f"unknown table {m['table']!r} in {raw!r} (allowed: HR, IR, CO, DI)") from None
        number = int(m["num"])
        if number > MAX_ADDRESS:
            raise AddressError(f"{raw!r}: address {number} is out of range (allowed: 0..{MAX_ADDRESS})")
        return ModbusAddress(table, number, _bit(raw, table, m["bit"]))
    m = _MODICON.fullmatch(raw)
    if m:
        digits = m["num"]
        table_or_none = _MODICON_TABLE.get(digits[0])
        if table_or_none is None:
            raise AddressError(
                f"{raw!r}: Modicon numbers start with 0 (coil), 1 (discrete input), 3 (input register) "
                f"or 4 (holding register)")
        table = table_or_none
        number = int(digits[1:])
        top = 9999 if len(digits) == 5 else MAX_ADDRESS + 1
        if not 1 <= number <= top:
            raise AddressError(
                f"{raw!r}: a {len(digits)}-digit Modicon number runs from {digits[0]}{1:0{len(digits) - 1}d} "
                f"to {digits[0]}{top:0{len(digits) - 1}d} (it is 1-based)")
        return ModbusAddress(table, number - 1, _bit(raw, table, m["bit"]))
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        raise AddressError(
            f"{raw!r} is neither a 5- nor a 6-digit Modicon number (allowed: {ALLOWED_FORMS})")
    raise AddressError(f"cannot read address {raw!r} (allowed: {ALLOWED_FORMS})")


def _bit(raw: str, table: Table, bit: str | None) -> int | None:
    if bit is None:
        return None
    if table.is_bits:
        raise AddressError(f"{raw!r}: a {table.label} is a single bit already (a bit suffix needs HR or IR)")
    value = int(bit)
    if value > 15:
        raise AddressError(f"{raw!r}: bit {value} is out of range (allowed: 0..15, 0 = least significant)")
    return value
