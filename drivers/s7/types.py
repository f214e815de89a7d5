"""S7 data types on top of the shared codec, and a tag resolved into what is read and written.

S7 is big-endian like the codec's `ABCD`, so every S7 type is a codec type plus a size and the
address widths it may sit at. The width rules (X = bool, B = byte, W/D need an explicit type)
exist because a DINT read as REAL is silent garbage: the config must say which it is.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devices.model import TagSpec
from drivers import codec
from drivers.s7.address import MAX_BYTE, AddressError, S7Address, parse_address

STRING_DEFAULT_CHARS = 254
STRING_MAX_CHARS = 254


@dataclass(frozen=True, slots=True)
class S7Type:
    name: str
    codec_type: str
    size: int  # bytes on the wire; a string adds its two header bytes to `length`
    width: str  # the address width this type is written with


S7_TYPES: dict[str, S7Type] = {t.name: t for t in (
    S7Type("bool", "bool", 1, "X"),
    S7Type("byte", "uint8", 1, "B"),
    S7Type("char", "char", 1, "B"),
    S7Type("sint", "int8", 1, "B"),
    S7Type("usint", "uint8", 1, "B"),
    S7Type("word", "uint16", 2, "W"),
    S7Type("int", "int16", 2, "W"),
    S7Type("uint", "uint16", 2, "W"),
    S7Type("dword", "uint32", 4, "D"),
    S7Type("dint", "int32", 4, "D"),
    S7Type("udint", "uint32", 4, "D"),
    S7Type("real", "float32", 4, "D"),
    S7Type("lreal", "float64", 8, "B"),
    S7Type("lint", "int64", 8, "B"),
    S7Type("ulint", "uint64", 8, "B"),
    S7Type("lword", "uint64", 8, "B"),
    S7Type("string", "string", 0, "B"),
)}

# The canonical names of devices.model.VALUE_TYPES, so a protocol-neutral profile still works.
ALIASES = {"int16": "int", "uint16": "uint", "int32": "dint", "uint32": "udint", "float32": "real",
           "float64": "lreal", "int64": "lint", "uint64": "ulint", "int8": "sint", "uint8": "usint"}

TYPE_NAMES = "bool byte char word int uint dword dint udint real lreal string (also sint usint lint ulint lword)"
_BY_WIDTH = {"B": "byte, char, sint, usint, lreal, lint, ulint, lword or string", "W": "word, int or uint",
             "D": "dword, dint, udint or real"}


class TypeProblem(ValueError):
    """A tag whose type does not fit its address; `field` names the tag field to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def lookup_type(name: str) -> S7Type:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return S7_TYPES[key]
    except KeyError:
        raise TypeProblem("type", f"unknown S7 type {name!r} (allowed: {TYPE_NAMES})") from None


@dataclass(frozen=True, slots=True)
class S7Point:
    """One tag resolved: where its bytes are, how many, and how they turn into a value."""

    tag: TagSpec
    address: S7Address
    type: S7Type
    size: int
    length: int = 0  # string: max chars (bytes)
    _decoder: Callable[[Any, int], tuple[Any, ...]] | None = field(default=None, repr=False, compare=False)

    @property
    def area_code(self) -> int:
        return self.address.area_code

    @property
    def start(self) -> int:
        return self.address.byte

    def decode(self, buf: bytes | bytearray | memoryview, off: int) -> Any:
        """The raw (unscaled) value from the bytes of this point at `off` in `buf`."""
        t = self.type.codec_type
        if t == "bool":
            bit = self.address.bit or 0
            return bool((buf[off] >> bit) & 1)
        if t == "string":
            declared, current = buf[off], buf[off + 1]
            n = min(current, self.length, declared if declared else self.length)
            return bytes(buf[off + 2: off + 2 + n]).decode(self.tag.encoding, errors="replace")
        if t == "char":
            return bytes(buf[off: off + 1]).decode(self.tag.encoding, errors="replace")
        assert self._decoder is not None
        return self._decoder(buf, off)[0]

    def encode_value(self, value: Any) -> bytes:
        """Engineering value -> the bytes of a numeric/char write (inverse scaling applied)."""
        t = self.type.codec_type
        if t == "char":
            raw = str(value).encode(self.tag.encoding)
            if len(raw) != 1:
                raise codec.CodecError(f"a char holds one byte, {value!r} is {len(raw)} in {self.tag.encoding}")
            return raw
        raw_value = codec.scale_to_raw(value, t, self.tag.scale, self.tag.offset)
        return codec.encode(raw_value, t, self.tag.byte_order)

    def encode_text(self, value: Any, capacity: int) -> bytes:
        """String write payload from byte 1 on (current length + chars): byte 0, the PLC's declared
        maximum, is never written. Text longer than `capacity` bytes is refused."""
        raw = str(value).encode(self.tag.encoding)
        if len(raw) > capacity:
            raise codec.CodecError(f"text is {len(raw)} bytes in {self.tag.encoding}, the string holds at most "
                                   f"{capacity}")
        return bytes([len(raw)]) + raw


def _width_hint(addr: S7Address, width: str) -> str:
    return str(addr.with_width(width, 0))


def resolve(tag: TagSpec) -> S7Point:
    """Resolve a tag's address and type; raises `TypeProblem` (field + message) or `AddressError`."""
    try:
        addr = parse_address(tag.address)
    except AddressError as exc:
        raise TypeProblem("address", str(exc)) from None
    if tag.type is None or not str(tag.type).strip():
        if addr.width == "X":
            s7type = S7_TYPES["bool"]
        elif addr.width == "B":
            s7type = S7_TYPES["byte"]
        else:
            what = "word" if addr.width == "W" else "double word"
            raise TypeProblem("type", f"{tag.address} needs an explicit type: a {what} is {_BY_WIDTH[addr.width]} "
                                      f"(reading one as another gives silent garbage)")
    else:
        s7type = lookup_type(tag.type)
    _check_width(tag, addr, s7type)
    length = 0
    size = s7type.size
    if s7type.name == "string":
        length = STRING_DEFAULT_CHARS if tag.length is None else int(tag.length)
        if not 1 <= length <= STRING_MAX_CHARS:
            raise TypeProblem("length", f"an S7 string holds 1-{STRING_MAX_CHARS} chars, got {length}")
        size = length + 2
    elif tag.length is not None:
        raise TypeProblem("length", f"length applies to strings only (type {s7type.name} is {size} bytes)")
    if addr.byte + size - 1 > MAX_BYTE:
        raise TypeProblem("address", f"{tag.address}: {s7type.name} of {size} bytes ends beyond byte {MAX_BYTE}")
    if tag.byte_order != "ABCD" and (s7type.codec_type in ("bool", "string", "char") or size < 2):
        raise TypeProblem("byte_order", f"byte_order applies to numbers of 2 bytes or more; S7 is big-endian "
                                        f"(allowed for {s7type.name}: ABCD)")
    decoder = None
    if s7type.codec_type not in ("bool", "string", "char"):
        decoder = codec.make_decoder(s7type.codec_type, tag.byte_order)
    return S7Point(tag, addr, s7type, size, length, decoder)


def _check_width(tag: TagSpec, addr: S7Address, s7type: S7Type) -> None:
    name = s7type.name
    if addr.width == s7type.width:
        return
    if addr.width == "X":
        raise TypeProblem("type", f"{tag.address} is a bit: its type is bool (for the whole byte use "
                                  f"{_width_hint(addr, 'B')} with type {name})")
    if name == "bool":
        raise TypeProblem("type", f"type bool needs a bit address such as {_width_hint(addr, 'X')}")
    if s7type.width == "B":
        what = "a string" if name == "string" else f"{name} ({s7type.size} bytes)"
        raise TypeProblem("address", f"{what} starts at a byte address: write {_width_hint(addr, 'B')}")
    raise TypeProblem("address", f"type {name} is {s7type.size} bytes: write {_width_hint(addr, s7type.width)}"
                                 f" (a {addr.width} address holds {_BY_WIDTH[addr.width]})")


def pack_bit(value: bool) -> bytes:
    """Payload of a bit write (transport size BIT: one byte, 0 or 1)."""
    return struct.pack("B", 1 if value else 0)
