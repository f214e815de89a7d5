"""The register image of a simulated Modbus device: where each profile tag lives and how it is encoded.

Encoding goes through the shared codec (`drivers.codec`) with the tag's own type, byte order and
scale, so a simulator serves exactly the bytes a device with that profile would, and a byte-order
bug shows up as a mismatch between the simulator and the driver rather than cancelling out.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from devices.model import TagSpec
from devices.simulators.addresses import ModbusAddress, parse_modbus
from drivers.codec import INT_RANGES, decode, encode, scale_to_engineering

__all__ = ["ModbusImage", "ModbusLayoutError"]

_WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "int64": 4, "uint64": 4, "float64": 4}
_FLOAT_MAX = {"float32": 3.4e38, "float64": 1.7e308}


class ModbusLayoutError(ValueError):
    """Tags that cannot be laid out (bad address or type, overlapping registers)."""


@dataclass(frozen=True, slots=True)
class Slot:
    tag: TagSpec
    addr: ModbusAddress
    vtype: str
    count: int  # registers taken (1 for a register bit, 0 for a coil or discrete input)

    @property
    def first(self) -> int:
        return self.addr.index

    @property
    def last(self) -> int:
        return self.addr.index + max(self.count, 1) - 1


def _slot(tag: TagSpec) -> Slot:
    try:
        addr = parse_modbus(tag.address)
    except ValueError as exc:
        raise ModbusLayoutError(f"tag {tag.name}: {exc}") from None
    if addr.is_bit:
        if tag.type not in (None, "bool"):
            raise ModbusLayoutError(f"tag {tag.name}: {tag.address} is a bit, type must be bool (got {tag.type})")
        return Slot(tag, addr, "bool", 1 if addr.bit is not None else 0)
    vtype = tag.type or "uint16"
    if vtype == "string":
        if not tag.length:
            raise ModbusLayoutError(f"tag {tag.name}: a string needs length (registers)")
        return Slot(tag, addr, vtype, int(tag.length))
    if vtype not in _WIDTH:
        raise ModbusLayoutError(f"tag {tag.name}: type {vtype!r} cannot live in registers "
                                f"(allowed: {', '.join([*_WIDTH, 'string'])}; bool needs a bit address)")
    return Slot(tag, addr, vtype, _WIDTH[vtype])


class ModbusImage:
    """Holding/input registers and coils/discrete inputs of one device, filled from engineering values."""

    def __init__(self, tags: Iterable[TagSpec]) -> None:
        self.slots: dict[str, Slot] = {}
        owner: dict[tuple[str, int], str] = {}
        bit_owner: dict[tuple[str, int, int], str] = {}
        for tag in tags:
            s = _slot(tag)
            self.slots[tag.name] = s
            table = s.addr.table
            if s.addr.bit is not None:
                key3 = (table, s.first, s.addr.bit)
                other = owner.get((table, s.first))
                if key3 in bit_owner or (other is not None and not other.startswith("bit:")):
                    raise ModbusLayoutError(f"tag {tag.name}: {tag.address} overlaps tag "
                                            f"{bit_owner.get(key3) or other}")
                bit_owner[key3] = tag.name
                owner[(table, s.first)] = "bit:" + tag.name
                continue
            for i in range(s.first, s.last + 1):
                if i > 65535:
                    raise ModbusLayoutError(f"tag {tag.name}: {tag.address} runs past address 65535")
                if (table, i) in owner:
                    raise ModbusLayoutError(f"tag {tag.name}: {tag.address} overlaps tag "
                                            f"{owner[(table, i)].removeprefix('bit:')}")
                owner[(table, i)] = tag.name
        size: dict[str, int] = {"HR": 0, "IR": 0, "CO": 0, "DI": 0}
        for s in self.slots.values():
            size[s.addr.table] = max(size[s.addr.table], s.last + 1)
        self.regs: dict[str, list[int]] = {t: [0] * size[t] for t in ("HR", "IR")}
        self.bits: dict[str, list[bool]] = {t: [False] * size[t] for t in ("CO", "DI")}
        self._by_table: dict[str, list[Slot]] = {t: [] for t in size}
        for s in self.slots.values():
            self._by_table[s.addr.table].append(s)

    def size(self, table: str) -> int:
        return len(self.regs[table]) if table in self.regs else len(self.bits[table])

    def tags_in(self, table: str, start: int, count: int) -> list[str]:
        """Names of the tags with at least one register (or bit) in `[start, start + count)`."""
        end = start + count - 1
        return [s.tag.name for s in self._by_table.get(table, ()) if s.first <= end and s.last >= start]

    # -- engineering value -> image ----------------------------------------------------------
    def _raw(self, s: Slot, value: Any) -> Any:
        t = s.tag
        if s.vtype in INT_RANGES:
            eng = float(value)
            scale = 1.0 if t.scale is None else t.scale
            raw_f = (eng - (t.offset or 0.0)) / scale if math.isfinite(eng) else 0.0
            lo, hi = INT_RANGES[s.vtype]
            return int(min(max(round(raw_f), lo), hi))
        raw = float(value)
        if t.scale is not None or t.offset is not None:
            raw = (raw - (t.offset or 0.0)) / (1.0 if t.scale is None else t.scale)
        limit = _FLOAT_MAX[s.vtype]
        return min(max(raw, -limit), limit) if math.isfinite(raw) else raw

    def _text(self, s: Slot, value: Any) -> bytes:
        width = s.count * 2
        out = b""
        for ch in str(value):  # cut on a character boundary: GBK characters take two bytes
            b = ch.encode(s.tag.encoding, errors="replace")
            if len(out) + len(b) > width:
                break
            out += b
        return encode(out.decode(s.tag.encoding), "string", s.tag.byte_order, width, s.tag.encoding)

    def set(self, name: str, value: Any) -> Any:
        """Store `value` for tag `name`; return what a client will decode from the registers."""
        s = self.slots[name]
        table = s.addr.table
        if s.vtype == "bool":
            flag = bool(value)
            if s.addr.bit is None:
                self.bits[table][s.first] = flag
            else:
                reg = self.regs[table][s.first]
                mask = 1 << s.addr.bit
                self.regs[table][s.first] = (reg | mask) if flag else (reg & ~mask)
            return flag
        if s.vtype == "string":
            data = self._text(s, value)
        else:
            data = encode(self._raw(s, value), s.vtype, s.tag.byte_order)
        self.regs[table][s.first : s.first + s.count] = list(struct.unpack(f">{s.count}H", data))
        return self.get(name)

    # -- image -> engineering value ----------------------------------------------------------
    def get(self, name: str) -> Any:
        """Decode tag `name` from the image, as a driver would."""
        s = self.slots[name]
        table = s.addr.table
        if s.vtype == "bool":
            if s.addr.bit is None:
                return self.bits[table][s.first]
            return bool(self.regs[table][s.first] >> s.addr.bit & 1)
        data = struct.pack(f">{s.count}H", *self.regs[table][s.first : s.first + s.count])
        raw = decode(data, s.vtype, s.tag.byte_order, s.tag.encoding)
        return scale_to_engineering(raw, s.tag.scale, s.tag.offset)

    def write(self, table: str, start: int, values: Sequence[int] | Sequence[bool]) -> list[str]:
        """Apply a client write to the image; return the names of the tags it touched."""
        if table in self.bits:
            for i, v in enumerate(values):
                self.bits[table][start + i] = bool(v)
        else:
            for i, v in enumerate(values):
                self.regs[table][start + i] = int(v) & 0xFFFF
        return self.tags_in(table, start, len(values))
