"""One value codec for every driver: raw bytes/registers <-> typed values.

Modbus and S7 both move big-endian bytes; they differ only in how a device scrambles them
(CONTRACTS §2 byte orders) and in type names. Keeping the conversion here means a byte-order bug
is fixed once. Bytes are named A B C D ... in big-endian order of the value:

    ABCD  as is                 CDAB  16-bit words reversed
    BADC  bytes swapped per word  DCBA  all bytes reversed (little-endian)

Each of these rearrangements is its own inverse, so one `reorder` serves decode and encode.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from devices.model import BYTE_ORDERS

# type -> (struct code, size in bytes); bool is handled apart (it is a bit, not a byte layout)
_FIXED: dict[str, tuple[str, int]] = {
    "int8": ("b", 1),
    "uint8": ("B", 1),
    "int16": ("h", 2),
    "uint16": ("H", 2),
    "int32": ("i", 4),
    "uint32": ("I", 4),
    "int64": ("q", 8),
    "uint64": ("Q", 8),
    "float32": ("f", 4),
    "float64": ("d", 8),
}
INT_RANGES: dict[str, tuple[int, int]] = {
    t: ((-(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1) if c.islower() else (0, (1 << (8 * n)) - 1))
    for t, (c, n) in _FIXED.items()
    if not t.startswith("float")
}
NUMERIC_TYPES = frozenset(_FIXED)
FLOAT_TYPES = frozenset({"float32", "float64"})
ALL_TYPES = frozenset({*_FIXED, "bool", "string", "char"})

Decoder = Callable[[bytes | bytearray | memoryview, int], Any]


class CodecError(ValueError):
    """A value that cannot be encoded for its type (range, format); the message says why."""


def fixed_size(value_type: str) -> int:
    """Bytes taken by a fixed-size type (bool and char take one byte)."""
    if value_type in ("bool", "char"):
        return 1
    try:
        return _FIXED[value_type][1]
    except KeyError:
        raise CodecError(f"type {value_type!r} has no fixed size") from None


def reorder(data: bytes | bytearray | memoryview, byte_order: str) -> bytes:
    """Rearrange between wire order and big-endian (an involution for every order)."""
    b = bytes(data)
    if byte_order == "ABCD" or len(b) < 2:
        return b
    if byte_order == "DCBA":
        return b[::-1]
    if len(b) % 2:
        raise CodecError(f"byte order {byte_order} needs an even number of bytes, got {len(b)}")
    if byte_order == "BADC":
        out = bytearray(len(b))
        out[0::2] = b[1::2]
        out[1::2] = b[0::2]
        return bytes(out)
    if byte_order == "CDAB":
        return b"".join(b[i : i + 2] for i in range(len(b) - 2, -1, -2))
    raise CodecError(f"unknown byte order {byte_order!r} (allowed: {', '.join(BYTE_ORDERS)})")


def reorder_text(data: bytes, byte_order: str) -> bytes:
    """Strings are a byte sequence: only the per-register swap of BADC/DCBA applies to them."""
    if byte_order in ("BADC", "DCBA"):
        return reorder(data if len(data) % 2 == 0 else data + b"\x00", "BADC")
    return data


def decode(data: bytes | bytearray | memoryview, value_type: str, byte_order: str = "ABCD",
           encoding: str = "ascii") -> Any:
    """Decode one value from exactly the bytes it occupies on the wire."""
    if value_type == "string":
        raw = reorder_text(bytes(data), byte_order)
        return raw.split(b"\x00", 1)[0].decode(encoding, errors="replace")
    if value_type == "char":
        return bytes(data[:1]).decode(encoding, errors="replace")
    if value_type == "bool":
        return any(bytes(data))
    code, size = _FIXED[value_type]
    if len(data) != size:
        raise CodecError(f"{value_type} needs {size} bytes, got {len(data)}")
    return struct.unpack(">" + code, reorder(data, byte_order))[0]


def make_decoder(value_type: str, byte_order: str = "ABCD", size: int | None = None,
                 encoding: str = "ascii") -> Decoder:
    """A decoder `(buffer, offset) -> value` precomputed for one tag, for block decoding.

    Decoding a whole register block with per-tag precompiled decoders avoids re-slicing and
    re-parsing formats on every cycle (the gateway's hot path).
    """
    if value_type in _FIXED:
        code, n = _FIXED[value_type]
        if byte_order == "ABCD" or n == 1:
            return struct.Struct(">" + code).unpack_from  # type: ignore[return-value]
        if byte_order == "DCBA":
            return struct.Struct("<" + code).unpack_from  # type: ignore[return-value]
        st = struct.Struct(">" + code)

        def dec(buf: bytes | bytearray | memoryview, off: int, _n: int = n) -> tuple[Any]:
            return st.unpack(reorder(buf[off : off + _n], byte_order))

        return dec  # type: ignore[return-value]
    width = size if size is not None else fixed_size(value_type)

    def dec_other(buf: bytes | bytearray | memoryview, off: int) -> tuple[Any]:
        return (decode(buf[off : off + width], value_type, byte_order, encoding),)

    return dec_other  # type: ignore[return-value]


def coerce(value: Any, value_type: str) -> Any:
    """Turn a user value (CLI text, JSON) into the Python type of `value_type`, range-checked."""
    if value_type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("1", "true", "on", "yes"):
            return True
        if text in ("0", "false", "off", "no"):
            return False
        raise CodecError(f"{value!r} is not a bool (allowed: true/false/1/0/on/off)")
    if value_type in ("string", "char"):
        return str(value)
    if value_type in FLOAT_TYPES:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise CodecError(f"{value!r} is not a number") from None
    if value_type in INT_RANGES:
        try:
            number = float(value) if not isinstance(value, int) else value
        except (TypeError, ValueError):
            raise CodecError(f"{value!r} is not a number") from None
        if isinstance(number, float):
            if not math.isfinite(number):
                raise CodecError(f"{value!r} cannot be written to an integer ({value_type})")
            number = round(number)
        lo, hi = INT_RANGES[value_type]
        if not lo <= number <= hi:
            raise CodecError(f"{value!r} is out of range for {value_type} ({lo}..{hi})")
        return int(number)
    raise CodecError(f"unknown type {value_type!r}")


def encode(value: Any, value_type: str, byte_order: str = "ABCD", size: int | None = None,
           encoding: str = "ascii") -> bytes:
    """Encode one value into wire bytes; strings are NUL-padded to `size` and refused if longer."""
    if value_type in ("string", "char"):
        raw = str(value).encode(encoding)
        width = size if size is not None else (1 if value_type == "char" else len(raw))
        if len(raw) > width:
            raise CodecError(f"text of {len(raw)} bytes does not fit {width} bytes")
        return reorder_text(raw.ljust(width, b"\x00"), byte_order)
    v = coerce(value, value_type)
    if value_type == "bool":
        return b"\x01" if v else b"\x00"
    code, _ = _FIXED[value_type]
    return reorder(struct.pack(">" + code, v), byte_order)


def scale_to_raw(value: Any, value_type: str, scale: float | None, offset: float | None) -> Any:
    """Engineering value -> raw value for a write: inverse scaling, rounded for integer types."""
    if value_type in ("bool", "string", "char") or (scale is None and offset is None):
        return coerce(value, value_type)
    eng = coerce(value, "float64")
    s = 1.0 if scale is None else scale
    if s == 0:
        raise CodecError("scale 0 cannot be inverted")
    return coerce((eng - (offset or 0.0)) / s, value_type)


def scale_to_engineering(raw: Any, scale: float | None, offset: float | None) -> Any:
    """Raw -> engineering (`raw × scale + offset`); bools and strings are never scaled."""
    if raw is None or isinstance(raw, (bool, str)) or (scale is None and offset is None):
        return raw
    return raw * (1.0 if scale is None else scale) + (offset or 0.0)


def registers_to_bytes(registers: Sequence[int]) -> bytes:
    """Modbus registers (16-bit, big-endian on the wire) to the byte string they carry."""
    return struct.pack(f">{len(registers)}H", *registers)


def bytes_to_registers(data: bytes) -> list[int]:
    if len(data) % 2:
        data += b"\x00"
    return list(struct.unpack(f">{len(data) // 2}H", data))
