"""A configured tag resolved into what the wire needs: table, first address, width, decoding.

One place decides a tag's register footprint and its value rules, so the config check, the
planner, block decoding and writes can never disagree about them.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from devices.model import BYTE_ORDERS, VALUE_TYPES, TagSpec
from drivers.base import ConfigProblem
from drivers.codec import BlockField, bytes_to_registers, coerce, encode, fixed_size, scale_to_raw
from drivers.modbus.address import MAX_ADDRESS, AddressError, ModbusAddress, Table, parse_address
from drivers.modbus.settings import MAX_WRITE_REGISTERS, PlanOptions

SCALABLE = frozenset(VALUE_TYPES) - {"bool", "string"}


class PointError(ValueError):
    """A tag that cannot be used; `field` names the tag field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Point:
    name: str
    where: ModbusAddress
    value_type: str
    count: int
    """Registers (HR/IR) or bits (CO/DI) the tag occupies."""
    byte_order: str = "ABCD"
    encoding: str = "ascii"
    scale: float | None = None
    offset: float | None = None
    readable: bool = True
    writable: bool = False

    @property
    def table(self) -> Table:
        return self.where.table

    @property
    def address(self) -> int:
        return self.where.address

    @property
    def end(self) -> int:
        return self.where.address + self.count

    @property
    def linear(self) -> tuple[float, float] | None:
        """`(scale, offset)` to apply after decoding, or None when the raw value is published."""
        if self.value_type not in SCALABLE or (self.scale is None and self.offset is None):
            return None
        return (1.0 if self.scale is None else float(self.scale), float(self.offset or 0.0))

    def block_field(self, span_start: int) -> BlockField:
        """This tag as a field of a register block that starts at `span_start`."""
        offset = 2 * (self.address - span_start)
        if self.where.bit is not None:
            return BlockField(offset, "bool", self.byte_order, bit=self.where.bit)
        if self.value_type == "bool":
            return BlockField(offset, "bool", self.byte_order, size=2)
        if self.value_type == "string":
            return BlockField(offset, "string", self.byte_order, size=2 * self.count, encoding=self.encoding)
        return BlockField(offset, self.value_type, self.byte_order)

    def encode_registers(self, value: Any) -> list[int]:
        """Engineering value -> the registers to write (inverse scaling, range checks)."""
        if self.value_type == "bool":
            return [1 if coerce(value, "bool") else 0]
        if self.value_type == "string":
            return bytes_to_registers(encode(value, "string", self.byte_order, 2 * self.count, self.encoding))
        raw = scale_to_raw(value, self.value_type, self.scale, self.offset)
        return bytes_to_registers(encode(raw, self.value_type, self.byte_order))


def register_count(value_type: str, length: int | None) -> int:
    if value_type == "string":
        return int(length or 0)
    if value_type == "bool":
        return 1
    return fixed_size(value_type) // 2


def compile_point(tag: TagSpec) -> Point:
    """Resolve a tag; raise `PointError` for the first problem (see `check_point` for all)."""
    problems = _problems(tag, None)
    if problems:
        first = problems[0]
        raise PointError(first.field, f"tag {tag.name}: {first.field}: {first.message}")
    where = parse_address(tag.address)
    value_type = _value_type(tag, where)
    return Point(
        name=tag.name,
        where=where,
        value_type=value_type,
        count=1 if where.table.is_bits else register_count(value_type, tag.length),
        byte_order=(tag.byte_order or "ABCD").upper(),
        encoding=tag.encoding or "ascii",
        scale=tag.scale,
        offset=tag.offset,
        readable=tag.readable,
        writable=tag.writable,
    )


def check_point(tag: TagSpec, options: PlanOptions | None) -> list[ConfigProblem]:
    return _problems(tag, options)


def _value_type(tag: TagSpec, where: ModbusAddress) -> str:
    if tag.type:
        return tag.type
    return "bool" if where.table.is_bits or where.bit is not None else "uint16"


def _problems(tag: TagSpec, options: PlanOptions | None) -> list[ConfigProblem]:
    out: list[ConfigProblem] = []
    try:
        where = parse_address(tag.address)
    except AddressError as exc:
        return [ConfigProblem("address", str(exc))]
    table = where.table
    value_type = _value_type(tag, where)
    if value_type not in VALUE_TYPES:
        out.append(ConfigProblem("type", f"{value_type!r} is not a Modbus type (allowed: {', '.join(VALUE_TYPES)})"))
        return out
    if table.is_bits and value_type != "bool":
        out.append(ConfigProblem("type", f"{value_type!r}: a {table.label} holds one bit (allowed: bool)"))
    if where.bit is not None and value_type != "bool":
        out.append(ConfigProblem("type", f"{value_type!r}: {where} is a single bit (allowed: bool)"))
    order = (tag.byte_order or "ABCD").upper()
    if order not in BYTE_ORDERS:
        allowed = ", ".join(BYTE_ORDERS)
        out.append(ConfigProblem("byte_order", f"{tag.byte_order!r} is not a byte order (allowed: {allowed})"))
    if value_type == "string":
        if tag.length is None:
            out.append(ConfigProblem("length", "a string needs `length` in registers (2 characters each)"))
        elif isinstance(tag.length, bool) or not isinstance(tag.length, int) or tag.length < 1:
            allowed = f"1..{_cap(options)} registers"
            out.append(ConfigProblem("length", f"{tag.length!r} is not allowed (allowed: {allowed})"))
        try:
            codecs.lookup(tag.encoding or "ascii")
        except LookupError:
            out.append(ConfigProblem("encoding", f"unknown encoding {tag.encoding!r} (allowed: ascii, gbk, utf-8)"))
    elif tag.length is not None:
        out.append(ConfigProblem("length", f"applies to strings only (this tag is {value_type})"))
    if (tag.scale is not None or tag.offset is not None) and value_type not in SCALABLE:
        field = "scale" if tag.scale is not None else "offset"
        out.append(ConfigProblem(field, f"applies to numeric types only (this tag is {value_type})"))
    if tag.writable and not table.writable:
        out.append(ConfigProblem("access", f"{tag.access.value!r}: a {table.label} is read-only (allowed: r)"))
    if out or table.is_bits:
        return out
    count = register_count(value_type, tag.length)
    if where.address + count - 1 > MAX_ADDRESS:
        out.append(ConfigProblem("address", f"{where} + {count} registers runs past {table.prefix}{MAX_ADDRESS}"))
    cap = _cap(options)
    if count > cap:
        out.append(ConfigProblem(
            "length" if value_type == "string" else "type",
            f"{value_type} needs {count} registers but one request may read at most {cap} "
            f"(options.max_registers_per_request)"))
    if tag.writable and count > MAX_WRITE_REGISTERS:
        out.append(ConfigProblem("length", f"a write may carry at most {MAX_WRITE_REGISTERS} registers (FC16)"))
    return out


def _cap(options: PlanOptions | None) -> int:
    return options.max_registers if options is not None else 125
