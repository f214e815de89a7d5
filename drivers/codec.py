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
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
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
            whole = value if isinstance(value, int) else _int_text(value) if isinstance(value, str) else None
            number: int | float = float(value) if whole is None else whole
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


def _int_text(text: str) -> int | None:
    """Whole numbers given as text keep every digit (a float would round 2**64-1)."""
    try:
        return int(text.strip())
    except ValueError:
        return None


def encode(value: Any, value_type: str, byte_order: str = "ABCD", size: int | None = None,
           encoding: str = "ascii") -> bytes:
    """Encode one value into wire bytes; strings are NUL-padded to `size` and refused if longer."""
    if value_type in ("string", "char"):
        try:
            raw = str(value).encode(encoding)
        except UnicodeEncodeError as exc:
            raise CodecError(f"{value!r} cannot be written in encoding {encoding}: {exc.reason}") from None
        except LookupError:
            raise CodecError(f"unknown encoding {encoding!r}") from None
        width = size if size is not None else (1 if value_type == "char" else len(raw))
        if len(raw) > width:
            raise CodecError(f"text of {len(raw)} bytes does not fit {width} bytes")
        return reorder_text(raw.ljust(width, b"\x00"), byte_order)
    v = coerce(value, value_type)
    if value_type == "bool":
        return b"\x01" if v else b"\x00"
    code, _ = _FIXED[value_type]
    try:
        packed = struct.pack(">" + code, v)
    except (OverflowError, struct.error):
        raise CodecError(f"{value!r} is out of range for {value_type}") from None
    return reorder(packed, byte_order)


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


# -- block decoding: many values out of one response with a few C-level unpack calls ------------

def swap16(data: bytes | bytearray | memoryview) -> bytes:
    """Swap the two bytes of every 16-bit word (an odd trailing byte is dropped)."""
    words = array("H")
    words.frombytes(bytes(data[: len(data) & ~1]))
    words.byteswap()
    return words.tobytes()


def wire_layout(value_type: str, byte_order: str) -> tuple[bool, str]:
    """How to read one value with a plain `struct` code: `(on_swapped, endian)`.

    `on_swapped` means: read from the block after `swap16`. Word-based orders then collapse into
    plain big- or little-endian reads: BADC swapped is ABCD, CDAB swapped is DCBA (for 32 and 64
    bits alike), so no per-value rearranging is needed on the hot path.
    """
    if byte_order not in BYTE_ORDERS:
        raise CodecError(f"unknown byte order {byte_order!r} (allowed: {', '.join(BYTE_ORDERS)})")
    if value_type == "string":
        return byte_order in ("BADC", "DCBA"), ">"
    size = 2 if value_type == "bool" else fixed_size(value_type)
    if size == 1:
        return False, ">"
    if size == 2:
        return False, "<" if byte_order in ("BADC", "DCBA") else ">"
    return byte_order in ("BADC", "CDAB"), "<" if byte_order in ("DCBA", "CDAB") else ">"


@dataclass(frozen=True, slots=True)
class BlockField:
    """One value inside a block.

    `offset` is in bytes from the block start. `size` is the byte width of strings. A `bit` reads
    a 16-bit word in `byte_order` and returns its bit (0 = least significant) as a bool; a `bool`
    without `bit` is true when any of its bytes (one register: two bytes) is non-zero.
    """

    offset: int
    value_type: str
    byte_order: str = "ABCD"
    size: int | None = None
    encoding: str = "ascii"
    bit: int | None = None

    @property
    def width(self) -> int:
        if self.value_type == "string":
            if self.size is None:
                raise CodecError("a string field needs its size in bytes")
            return self.size
        if self.value_type == "bool":
            return 2 if self.bit is not None else (self.size or 1)
        return fixed_size(self.value_type)


_POST_NONE, _POST_BIT, _POST_TEXT, _POST_ANY = 0, 1, 2, 3


class BlockDecoder:
    """Decodes a fixed set of fields from blocks of one layout, compiled once.

    Fields that read the same buffer variant (plain or `swap16`) with the same endianness are
    packed into one `struct.Struct` with pad bytes between them, so a whole response block costs
    one `unpack_from` per variant instead of one call (and one slice) per value. Overlapping
    fields go into further layers. `decode` returns the values in the order the fields were given.
    """

    __slots__ = ("_fast", "_layers", "_pick", "_post", "_slow", "fields", "needs_swapped", "span")

    def __init__(self, fields: Sequence[BlockField]) -> None:
        self.fields = tuple(fields)
        self.span = max((f.offset + f.width for f in self.fields), default=0)
        groups: dict[tuple[bool, str], list[int]] = {}
        self._slow: list[int] = []
        self._post: list[tuple[int, int, Any]] = []
        for i, f in enumerate(self.fields):
            swapped, endian = wire_layout(f.value_type, f.byte_order)
            if (swapped and (f.offset % 2 or f.width % 2)) or f.value_type == "char":
                self._slow.append(i)
                continue
            groups.setdefault((swapped, endian), []).append(i)
            if f.bit is not None:
                self._post.append((i, _POST_BIT, f.bit))
            elif f.value_type == "string":
                self._post.append((i, _POST_TEXT, f.encoding))
            elif f.value_type == "bool" and f.width > 1:
                self._post.append((i, _POST_ANY, None))
        layers: list[tuple[bool, struct.Struct, int, tuple[int, ...]]] = []
        for (swapped, endian), idxs in groups.items():
            idxs.sort(key=lambda j: self.fields[j].offset)
            stacks: list[list[int]] = []
            ends: list[int] = []
            for j in idxs:
                f = self.fields[j]
                for k, end in enumerate(ends):
                    if end <= f.offset:
                        stacks[k].append(j)
                        ends[k] = f.offset + f.width
                        break
                else:
                    stacks.append([j])
                    ends.append(f.offset + f.width)
            for stack in stacks:
                start = self.fields[stack[0]].offset
                fmt, pos = [endian], start
                for j in stack:
                    f = self.fields[j]
                    if f.offset > pos:
                        fmt.append(f"{f.offset - pos}x")
                    fmt.append(self._code(f))
                    pos = f.offset + f.width
                layers.append((swapped, struct.Struct("".join(fmt)), start, tuple(stack)))
        self._layers = layers
        self.needs_swapped = any(layer[0] for layer in layers)
        # the layers yield values grouped by layer; one C-level itemgetter puts them back in order
        produced = [j for layer in layers for j in layer[3]] + self._slow
        where = {j: p for p, j in enumerate(produced)}
        order = [where[i] for i in range(len(self.fields))]
        self._pick = itemgetter(*order) if order != list(range(len(order))) else None  # never for 1 field
        self._fast = len(layers) == 1 and not self._post and not self._slow and not layers[0][0] and not self._pick

    @staticmethod
    def _code(f: BlockField) -> str:
        if f.value_type == "string" or (f.value_type == "bool" and f.bit is None and f.width > 1):
            return f"{f.width}s"
        if f.value_type == "bool":
            return "H" if f.bit is not None else "?"
        return _FIXED[f.value_type][0]

    def decode(self, block: bytes | bytearray | memoryview, swapped: bytes | None = None) -> Sequence[Any]:
        """All field values of one block; `swapped` may pass a ready `swap16(block)`."""
        if len(block) < self.span:
            raise CodecError(f"block of {len(block)} bytes is shorter than the {self.span} bytes it should hold")
        if self._fast:
            _, st, start, _ = self._layers[0]
            return st.unpack_from(block, start)
        if swapped is None and self.needs_swapped:
            swapped = swap16(block)
        values: tuple[Any, ...] = ()
        for on_swapped, st, start, _ in self._layers:
            values += st.unpack_from(swapped if on_swapped else block, start)  # type: ignore[arg-type]
        for j in self._slow:
            f = self.fields[j]
            values += (decode(block[f.offset : f.offset + f.width], f.value_type, f.byte_order, f.encoding),)
        if self._pick is not None:
            values = self._pick(values)
        if not self._post:
            return values
        out = list(values)
        for j, kind, arg in self._post:
            v = out[j]
            if kind == _POST_BIT:
                out[j] = bool((v >> arg) & 1)
            elif kind == _POST_TEXT:
                out[j] = v.split(b"\x00", 1)[0].decode(arg, errors="replace")
            else:
                out[j] = any(v)
        return out
