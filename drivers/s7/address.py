"""Siemens absolute addresses (CONTRACTS §2): `DB1.DBX0.0`, `MW10`, `I0.0`/`E0.0`, `QD4`/`AD4`.

The parser only knows the notation; which value type may sit at an address is decided in
`drivers.s7.types`, so a wrong combination is reported with the type in view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AREA_DB = 0x84
AREA_M = 0x83
AREA_I = 0x81  # process inputs (PE)
AREA_Q = 0x82  # process outputs (PA)

AREA_CODES = {"DB": AREA_DB, "M": AREA_M, "I": AREA_I, "Q": AREA_Q}
_GERMAN = {"E": "I", "A": "Q"}
WIDTH_BYTES = {"X": 1, "B": 1, "W": 2, "D": 4}
MAX_BYTE = 65535
MAX_DB = 65535

EXAMPLES = ("DB1.DBX0.0, DB1.DBB0, DB1.DBW0, DB1.DBD0, M10.0, MB10, MW10, MD10, "
            "I0.0/E0.0, IB0, IW0, ID0, Q0.0/A0.0, QB0, QW0, QD0; optional % prefix")

_DB_RE = re.compile(r"^DB(\d+)\.DB([XBWD])(\d+)(?:\.(\d+))?$")
_AREA_RE = re.compile(r"^([MIQEA])([XBWD]?)(\d+)(?:\.(\d+))?$")


class AddressError(ValueError):
    """An address that is not valid Siemens notation; the message shows what is allowed."""


@dataclass(frozen=True, slots=True)
class S7Address:
    area: str  # "DB", "M", "I" or "Q" (German E/A are normalised)
    db: int  # DB number, 0 outside the DB area
    byte: int
    width: str  # "X" bit, "B" byte, "W" word, "D" double word
    bit: int | None = None

    @property
    def area_code(self) -> int:
        return AREA_CODES[self.area]

    @property
    def is_bit(self) -> bool:
        return self.width == "X"

    def with_width(self, width: str, bit: int | None = None) -> S7Address:
        return S7Address(self.area, self.db, self.byte, width, bit if width == "X" else None)

    def area_name(self) -> str:
        """How the area is named in messages: `DB5`, `M`, `I`, `Q`."""
        return f"DB{self.db}" if self.area == "DB" else self.area

    def __str__(self) -> str:
        if self.area == "DB":
            text = f"DB{self.db}.DB{self.width}{self.byte}"
        else:
            text = f"{self.area}{'' if self.width == 'X' else self.width}{self.byte}"
        return f"{text}.{self.bit}" if self.width == "X" else text


def parse_address(text: str) -> S7Address:
    """Parse one address as written in the config (case-insensitive, surrounding blanks ignored)."""
    raw = str(text).strip()
    s = raw.upper().removeprefix("%")
    if not s:
        raise AddressError(f"address is empty (allowed: {EXAMPLES})")
    m = _DB_RE.match(s)
    if m:
        db, width, byte, bit = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        if not 1 <= db <= MAX_DB:
            raise AddressError(f"{raw!r}: DB number {db} is out of range (allowed: 1-{MAX_DB})")
        area = "DB"
    else:
        m = _AREA_RE.match(s)
        if not m:
            raise AddressError(f"{raw!r} is not an S7 address (allowed: {EXAMPLES})")
        area = _GERMAN.get(m.group(1), m.group(1))
        db, width, byte, bit = 0, m.group(2) or "X", int(m.group(3)), m.group(4)
    if byte > MAX_BYTE:
        raise AddressError(f"{raw!r}: byte offset {byte} is out of range (allowed: 0-{MAX_BYTE})")
    if width == "X":
        if bit is None:
            example = f"DB{db}.DBX{byte}.0" if area == "DB" else f"{area}{byte}.0"
            raise AddressError(f"{raw!r}: a bit address needs a bit number, e.g. {example} (bit 0-7)")
        if int(bit) > 7:
            raise AddressError(f"{raw!r}: bit {int(bit)} does not exist (allowed: 0-7)")
        return S7Address(area, db, byte, "X", int(bit))
    if bit is not None:
        example = f"DB{db}.DBX{byte}.{bit}" if area == "DB" else f"{area}{byte}.{bit}"
        raise AddressError(f"{raw!r}: a {'byte' if width == 'B' else 'word'} address takes no bit number "
                           f"(for a bit write {example})")
    if byte + WIDTH_BYTES[width] - 1 > MAX_BYTE:
        raise AddressError(f"{raw!r}: ends beyond byte {MAX_BYTE}")
    return S7Address(area, db, byte, width)
