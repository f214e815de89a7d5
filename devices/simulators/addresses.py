"""Address notation of CONTRACTS §2, parsed for the serving side of a simulated device.

A simulator must lay out its memory exactly where a driver will look, so it reads the same
notation as the drivers: Modbus `HR0`/`IR3.2`/`CO5`/`DI0` and Modicon `40001`/`400001`, S7
`DB1.DBD0`/`M10.0`/`%IW4` (German `E`/`A` too). OPC UA node ids are taken as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["AddressError", "ModbusAddress", "S7Address", "parse_modbus", "parse_s7"]


class AddressError(ValueError):
    """An address that does not follow the notation; the message shows what is allowed."""


@dataclass(frozen=True, slots=True)
class ModbusAddress:
    table: str  # "HR" | "IR" | "CO" | "DI"
    index: int  # 0-based protocol address
    bit: int | None = None  # bit of a register, 0 = least significant

    @property
    def is_bit(self) -> bool:
        return self.table in ("CO", "DI") or self.bit is not None


_MB_PREFIXED = re.compile(r"^(HR|IR|CO|DI)(\d{1,5})(?:\.(\d{1,2}))?$", re.IGNORECASE)
_MB_MODICON = re.compile(r"^([0134])(\d{4,5})(?:\.(\d{1,2}))?$")
_MODICON_TABLE = {"0": "CO", "1": "DI", "3": "IR", "4": "HR"}
MODBUS_HELP = "HR<n>, IR<n>, CO<n>, DI<n> with n 0-65535, a register bit HR<n>.<0-15>, or Modicon 40001 / 400001"


def parse_modbus(text: str) -> ModbusAddress:
    s = str(text).strip()
    m = _MB_PREFIXED.match(s)
    if m:
        table, index = m.group(1).upper(), int(m.group(2))
    else:
        m = _MB_MODICON.match(s)
        if not m:
            raise AddressError(f"bad Modbus address {text!r} (allowed: {MODBUS_HELP})")
        table = _MODICON_TABLE[m.group(1)]
        number = int(m.group(2))
        if len(m.group(2)) == 4:  # 5-digit form: x0001..x9999
            if not 1 <= number <= 9999:
                raise AddressError(f"bad Modicon address {text!r} (allowed: {m.group(1)}0001-{m.group(1)}9999)")
        elif not 1 <= number <= 65536:  # 6-digit form: x00001..x65536
            raise AddressError(f"bad Modicon address {text!r} (allowed: {m.group(1)}00001-{m.group(1)}65536)")
        index = number - 1
    if index > 65535:
        raise AddressError(f"bad Modbus address {text!r}: {index} is above 65535")
    bit = int(m.group(3)) if m.group(3) is not None else None
    if bit is not None:
        if table in ("CO", "DI"):
            raise AddressError(f"bad Modbus address {text!r}: coils and discrete inputs have no bits")
        if bit > 15:
            raise AddressError(f"bad Modbus address {text!r}: bit {bit} (allowed: 0-15)")
    return ModbusAddress(table, index, bit)


@dataclass(frozen=True, slots=True)
class S7Address:
    area: str  # "DB" | "M" | "I" | "Q"
    db: int  # DB number, 0 outside DBs
    start: int  # byte offset
    size: str  # "X" bit, "B" byte, "W" word, "D" double word
    bit: int | None = None


_S7_DB = re.compile(r"^DB(\d{1,5})\.DB([XBWD])(\d{1,5})(?:\.(\d))?$", re.IGNORECASE)
_S7_AREA = re.compile(r"^([MIEQA])([BWD]?)(\d{1,5})(?:\.(\d))?$", re.IGNORECASE)
_S7_GERMAN = {"E": "I", "A": "Q"}
S7_HELP = "DB1.DBX0.0, DB1.DBB0, DB1.DBW0, DB1.DBD0, M10.0, MB10, MW10, MD10, I0.0, IW0, Q0.0, QD0 (optional %)"


def parse_s7(text: str) -> S7Address:
    s = str(text).strip()
    if s.startswith("%"):
        s = s[1:]
    m = _S7_DB.match(s)
    if m:
        db, size, start, bit = int(m.group(1)), m.group(2).upper(), int(m.group(3)), m.group(4)
        area = "DB"
        if db < 1:
            raise AddressError(f"bad S7 address {text!r}: DB numbers start at 1")
    else:
        m = _S7_AREA.match(s)
        if not m:
            raise AddressError(f"bad S7 address {text!r} (allowed: {S7_HELP})")
        letter = m.group(1).upper()
        area = _S7_GERMAN.get(letter, letter)
        db, size, start, bit = 0, (m.group(2).upper() or "X"), int(m.group(3)), m.group(4)
    if size == "X":
        if bit is None:
            raise AddressError(f"bad S7 address {text!r}: a bit address needs .0-.7 (e.g. {area}{start}.0)")
        if int(bit) > 7:
            raise AddressError(f"bad S7 address {text!r}: bit {bit} (allowed: 0-7)")
        return S7Address(area, db, start, "X", int(bit))
    if bit is not None:
        raise AddressError(f"bad S7 address {text!r}: only X addresses take a bit")
    return S7Address(area, db, start, size)
