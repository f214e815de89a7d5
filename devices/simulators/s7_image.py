"""The memory image of a simulated S7 PLC: data blocks, markers, inputs and outputs.

Values are big-endian as in the PLC; S7 type names map onto the shared codec's types. Each area
is a `bytearray` handed to the S7 server as is, so a publish is visible to clients at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from devices.model import TagSpec
from devices.simulators.addresses import S7Address, parse_s7
from drivers.codec import INT_RANGES, decode, encode, scale_to_engineering

__all__ = ["S7_TYPES", "S7Image", "S7LayoutError"]

S7_TYPES: dict[str, tuple[str, int]] = {
    "bool": ("bool", 1), "byte": ("uint8", 1), "char": ("char", 1), "word": ("uint16", 2),
    "int": ("int16", 2), "uint": ("uint16", 2), "dword": ("uint32", 4), "dint": ("int32", 4),
    "udint": ("uint32", 4), "real": ("float32", 4), "lreal": ("float64", 8),
    # canonical names (CONTRACTS §2) are accepted as well
    "int16": ("int16", 2), "uint16": ("uint16", 2), "int32": ("int32", 4), "uint32": ("uint32", 4),
    "float32": ("float32", 4), "float64": ("float64", 8), "int64": ("int64", 8), "uint64": ("uint64", 8),
}
_SIZE_OF = {"B": 1, "W": 2, "D": 4}
_FLOAT_MAX = {"float32": 3.4e38, "float64": 1.7e308}


class S7LayoutError(ValueError):
    """Tags that cannot be laid out (bad address or type, overlaps)."""


@dataclass(frozen=True, slots=True)
class Slot:
    tag: TagSpec
    addr: S7Address
    vtype: str  # codec type, or "s7string"
    size: int  # bytes

    @property
    def key(self) -> tuple[str, int]:
        return (self.addr.area, self.addr.db)


def _slot(tag: TagSpec) -> Slot:
    try:
        addr = parse_s7(tag.address)
    except ValueError as exc:
        raise S7LayoutError(f"tag {tag.name}: {exc}") from None
    if addr.size == "X":
        if tag.type not in (None, "bool"):
            raise S7LayoutError(f"tag {tag.name}: {tag.address} is a bit, type must be bool (got {tag.type})")
        return Slot(tag, addr, "bool", 1)
    if tag.type == "string":
        if addr.size != "B":
            raise S7LayoutError(f"tag {tag.name}: a string starts at a byte address (e.g. DB1.DBB18)")
        max_len = int(tag.length or 254)
        if not 1 <= max_len <= 254:
            raise S7LayoutError(f"tag {tag.name}: string length {max_len} (allowed: 1-254)")
        return Slot(tag, addr, "s7string", max_len + 2)
    name = tag.type or ("byte" if addr.size == "B" else None)
    if name is None:
        raise S7LayoutError(f"tag {tag.name}: {tag.address} needs an explicit type "
                            f"(allowed: {', '.join(t for t, (_, n) in S7_TYPES.items() if n == _SIZE_OF[addr.size])})")
    if name not in S7_TYPES or name == "bool":
        raise S7LayoutError(f"tag {tag.name}: unknown S7 type {name!r} (allowed: {', '.join(S7_TYPES)}, string)")
    vtype, size = S7_TYPES[name]
    if addr.size != "B" and size != _SIZE_OF[addr.size]:
        raise S7LayoutError(f"tag {tag.name}: type {name} takes {size} bytes, "
                            f"{tag.address} addresses {_SIZE_OF[addr.size]}")
    return Slot(tag, addr, vtype, size)


class S7Image:
    """Byte areas keyed by (`DB`|`M`|`I`|`Q`, DB number) filled from engineering values."""

    def __init__(self, tags: Iterable[TagSpec]) -> None:
        self.slots: dict[str, Slot] = {}
        owner: dict[tuple[str, int, int], str] = {}
        bit_owner: dict[tuple[str, int, int, int], str] = {}
        for tag in tags:
            s = _slot(tag)
            self.slots[tag.name] = s
            area, db, start = s.addr.area, s.addr.db, s.addr.start
            if s.addr.bit is not None:
                other = owner.get((area, db, start))
                if (area, db, start, s.addr.bit) in bit_owner or (other and not other.startswith("bit:")):
                    raise S7LayoutError(f"tag {tag.name}: {tag.address} overlaps tag "
                                        f"{bit_owner.get((area, db, start, s.addr.bit)) or other}")
                bit_owner[(area, db, start, s.addr.bit)] = tag.name
                owner[(area, db, start)] = "bit:" + tag.name
                continue
            for i in range(start, start + s.size):
                if (area, db, i) in owner:
                    raise S7LayoutError(f"tag {tag.name}: {tag.address} overlaps tag "
                                        f"{owner[(area, db, i)].removeprefix('bit:')}")
                owner[(area, db, i)] = tag.name
        sizes: dict[tuple[str, int], int] = {}
        for s in self.slots.values():
            sizes[s.key] = max(sizes.get(s.key, 0), s.addr.start + s.size)
        self.areas: dict[tuple[str, int], bytearray] = {k: bytearray(n) for k, n in sizes.items()}
        for s in self.slots.values():
            if s.vtype == "s7string":
                self.areas[s.key][s.addr.start] = s.size - 2  # byte 0: maximum length

    def _raw(self, s: Slot, value: Any) -> Any:
        t = s.tag
        eng = float(value)
        scale = 1.0 if t.scale is None else t.scale
        raw = (eng - (t.offset or 0.0)) / scale if math.isfinite(eng) else (eng if s.vtype in _FLOAT_MAX else 0.0)
        if s.vtype in INT_RANGES:
            lo, hi = INT_RANGES[s.vtype]
            return int(min(max(round(raw), lo), hi))
        limit = _FLOAT_MAX[s.vtype]
        return min(max(raw, -limit), limit) if math.isfinite(raw) else raw

    def encode(self, name: str, value: Any) -> bytes:
        """The bytes tag `name` takes for `value` (a bit tag: its byte with the bit set or cleared)."""
        s = self.slots[name]
        mem = self.areas[s.key]
        start = s.addr.start
        if s.vtype == "bool":
            assert s.addr.bit is not None
            mask = 1 << s.addr.bit
            return bytes([(mem[start] | mask) if value else (mem[start] & ~mask)])
        if s.vtype == "s7string":
            max_len = s.size - 2
            out = b""
            for ch in str(value):
                b = ch.encode(s.tag.encoding, errors="replace")
                if len(out) + len(b) > max_len:
                    break
                out += b
            return bytes([max_len, len(out)]) + out.ljust(max_len, b"\x00")
        if s.vtype == "char":
            return encode(str(value)[:1] or " ", "char", "ABCD", 1, s.tag.encoding)
        return encode(self._raw(s, value), s.vtype)

    def current(self, name: str) -> bytes:
        s = self.slots[name]
        return bytes(self.areas[s.key][s.addr.start : s.addr.start + s.size])

    def put(self, name: str, data: bytes) -> None:
        s = self.slots[name]
        self.areas[s.key][s.addr.start : s.addr.start + len(data)] = data

    def get(self, name: str) -> Any:
        """Decode tag `name` as a driver would."""
        s = self.slots[name]
        data = self.current(name)
        if s.vtype == "bool":
            assert s.addr.bit is not None
            return bool(data[0] >> s.addr.bit & 1)
        if s.vtype == "s7string":
            n = min(data[1], s.size - 2)
            return data[2 : 2 + n].decode(s.tag.encoding, errors="replace")
        raw = decode(data, s.vtype)
        return scale_to_engineering(raw, s.tag.scale, s.tag.offset)
