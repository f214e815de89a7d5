"""The shared value codec: every type x byte order, edge values, strings, block decoding."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.model import BYTE_ORDERS
from drivers.codec import (
    INT_RANGES,
    BlockDecoder,
    BlockField,
    CodecError,
    bytes_to_registers,
    coerce,
    decode,
    encode,
    make_decoder,
    registers_to_bytes,
    reorder,
    scale_to_engineering,
    scale_to_raw,
    swap16,
    wire_layout,
)

INT_TYPES = ("int16", "uint16", "int32", "uint32", "int64", "uint64")
FLOATS = ("float32", "float64")
NUMERIC = INT_TYPES + FLOATS

# CONTRACTS §2: bytes named A B C D ... in big-endian order of the value.
WIRE = {
    ("uint16", 0x1122): {"ABCD": "1122", "CDAB": "1122", "BADC": "2211", "DCBA": "2211"},
    ("uint32", 0x11223344): {"ABCD": "11223344", "CDAB": "33441122", "BADC": "22114433", "DCBA": "44332211"},
    ("uint64", 0x1122334455667788): {
        "ABCD": "1122334455667788",
        "CDAB": "7788556633441122",
        "BADC": "2211443366558877",
        "DCBA": "8877665544332211",
    },
}


def edge_values(value_type: str) -> list[float | int]:
    if value_type in INT_RANGES:
        lo, hi = INT_RANGES[value_type]
        return sorted({lo, hi, 0, 1, hi // 2, lo + 1, hi - 1} | ({-1} if lo < 0 else set()))
    big = struct.unpack(">f", b"\x7f\x7f\xff\xff")[0] if value_type == "float32" else 1.7976931348623157e308
    tiny = struct.unpack(">f", b"\x00\x00\x00\x01")[0] if value_type == "float32" else 5e-324
    return [0.0, -0.0, 1.5, -2.25, big, -big, tiny, math.inf, -math.inf]


@pytest.mark.parametrize("order", BYTE_ORDERS)
@pytest.mark.parametrize(("value_type", "value"), list(WIRE))
def test_wire_layout_matches_the_contract_table(value_type: str, value: int, order: str) -> None:
    wire = bytes.fromhex(WIRE[(value_type, value)][order])
    assert encode(value, value_type, order) == wire
    assert decode(wire, value_type, order) == value
    assert make_decoder(value_type, order)(b"\xee" + wire, 1)[0] == value


@pytest.mark.parametrize("order", BYTE_ORDERS)
@pytest.mark.parametrize("value_type", NUMERIC)
def test_every_type_and_order_round_trips_edge_values(value_type: str, order: str) -> None:
    for value in edge_values(value_type):
        wire = encode(value, value_type, order)
        back = decode(wire, value_type, order)
        assert back == value and math.copysign(1, back) == math.copysign(1, value), (value_type, order, value)
        assert make_decoder(value_type, order)(wire, 0)[0] == back


@pytest.mark.parametrize("order", BYTE_ORDERS)
@pytest.mark.parametrize("value_type", FLOATS)
def test_nan_round_trips(value_type: str, order: str) -> None:
    assert math.isnan(decode(encode(math.nan, value_type, order), value_type, order))
    assert math.isnan(make_decoder(value_type, order)(encode("nan", value_type, order), 0)[0])


@pytest.mark.parametrize("value_type", INT_TYPES)
def test_integers_out_of_range_are_refused(value_type: str) -> None:
    lo, hi = INT_RANGES[value_type]
    for bad in (lo - 1, hi + 1, math.nan, math.inf, "x"):
        with pytest.raises(CodecError):
            encode(bad, value_type)


def test_uint64_max_given_as_text_is_not_rounded() -> None:
    # Regression: text went through float(), so 2**64-1 became 2**64 and was refused.
    assert coerce("18446744073709551615", "uint64") == 2**64 - 1
    assert coerce(" -9223372036854775808 ", "int64") == -(2**63)
    assert coerce("9007199254740993", "int64") == 9007199254740993
    assert coerce("12.6", "int16") == 13


def test_float32_overflow_is_a_codec_error() -> None:
    # Regression: struct raised OverflowError, which callers did not expect.
    with pytest.raises(CodecError, match="float32"):
        encode(1e39, "float32")
    assert encode(math.inf, "float32") == b"\x7f\x80\x00\x00"


def test_text_the_encoding_cannot_hold_is_a_codec_error() -> None:
    # Regression: UnicodeEncodeError escaped instead of a CodecError naming the encoding.
    with pytest.raises(CodecError, match="ascii"):
        encode("原煤", "string", size=8)


@pytest.mark.parametrize("order", BYTE_ORDERS)
@pytest.mark.parametrize(("text", "encoding"), [("BELT-01", "ascii"), ("原煤皮带秤", "gbk"), ("精煤 ok", "utf-8")])
def test_strings_round_trip_with_encoding_and_order(text: str, encoding: str, order: str) -> None:
    size = 2 * ((len(text.encode(encoding)) + 3) // 2)
    wire = encode(text, "string", order, size=size, encoding=encoding)
    assert len(wire) == size
    assert decode(wire, "string", order, encoding) == text
    assert make_decoder("string", order, size=size, encoding=encoding)(b"\x00\x00" + wire, 2)[0] == text


def test_string_bytes_are_high_byte_first_and_swapped_per_register() -> None:
    assert encode("ABC", "string", "ABCD", size=4) == b"ABC\x00"
    assert encode("ABC", "string", "CDAB", size=4) == b"ABC\x00"  # word order does not apply to text
    assert encode("ABC", "string", "BADC", size=4) == b"BA\x00C"
    assert encode("ABC", "string", "DCBA", size=4) == b"BA\x00C"
    assert decode(b"GB2312\x00\x00junk", "string") == "GB2312"


def test_string_longer_than_its_registers_is_refused() -> None:
    with pytest.raises(CodecError, match="does not fit"):
        encode("ABCDE", "string", size=4)
    with pytest.raises(CodecError):
        encode("原煤原", "string", size=4, encoding="gbk")


@pytest.mark.parametrize(("text", "value"), [("true", True), ("ON", True), (1, True), (0.0, False), ("no", False)])
def test_bool_coercion(text: object, value: bool) -> None:
    assert coerce(text, "bool") is value


def test_bool_coercion_refuses_other_values() -> None:
    for bad in ("maybe", 2, -1.0):
        with pytest.raises(CodecError, match="allowed"):
            coerce(bad, "bool")


def test_scaling_inverse_rounds_to_the_raw_integer() -> None:
    assert scale_to_raw(12.3, "int16", 0.1, None) == 123
    assert scale_to_raw(20.0, "uint16", 0.5, 10.0) == 20
    assert scale_to_engineering(123, 0.1, None) == pytest.approx(12.3)
    assert scale_to_engineering(True, 2.0, 1.0) is True
    with pytest.raises(CodecError):
        scale_to_raw(1.0, "int16", 0.0, None)
    with pytest.raises(CodecError, match="out of range"):
        scale_to_raw(4000.0, "int16", 0.1, None)


def test_registers_and_bytes() -> None:
    assert registers_to_bytes([0x1122, 0x3344]) == bytes.fromhex("11223344")
    assert bytes_to_registers(bytes.fromhex("112233")) == [0x1122, 0x3300]


def test_reorder_is_an_involution() -> None:
    data = bytes(range(8))
    for order in BYTE_ORDERS:
        assert reorder(reorder(data, order), order) == data
    with pytest.raises(CodecError, match="allowed"):
        reorder(data, "XYZW")


def test_swap16_swaps_each_word() -> None:
    assert swap16(bytes.fromhex("11223344")) == bytes.fromhex("22114433")


@pytest.mark.parametrize("order", BYTE_ORDERS)
@pytest.mark.parametrize("value_type", NUMERIC)
def test_wire_layout_reads_like_decode(value_type: str, order: str) -> None:
    value = edge_values(value_type)[1]
    wire = encode(value, value_type, order)
    on_swapped, endian = wire_layout(value_type, order)
    code = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q",
            "float32": "f", "float64": "d"}[value_type]
    assert struct.unpack(endian + code, swap16(wire) if on_swapped else wire)[0] == value


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[BlockField], bytes]:
    """Random fields at register offsets (overlaps allowed) over a random block."""
    n_regs = draw(st.integers(4, 40))
    block = draw(st.binary(min_size=2 * n_regs, max_size=2 * n_regs))
    fields = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from([*NUMERIC, "string", "bit", "bool"]))
        order = draw(st.sampled_from(BYTE_ORDERS))
        if kind == "string":
            regs = draw(st.integers(1, 4))
            size = 2 * regs
            start = draw(st.integers(0, n_regs - regs))
            fields.append(BlockField(2 * start, "string", order, size=size, encoding="latin-1"))
        elif kind == "bit":
            fields.append(BlockField(2 * draw(st.integers(0, n_regs - 1)), "bool", order, bit=draw(st.integers(0, 15))))
        elif kind == "bool":
            fields.append(BlockField(2 * draw(st.integers(0, n_regs - 1)), "bool", order, size=2))
        else:
            regs = struct.calcsize(">" + {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I",
                                          "int64": "q", "uint64": "Q", "float32": "f", "float64": "d"}[kind]) // 2
            fields.append(BlockField(2 * draw(st.integers(0, n_regs - regs)), kind, order))
    return fields, block


def reference(field: BlockField, block: bytes) -> object:
    chunk = block[field.offset : field.offset + field.width]
    if field.bit is not None:
        return bool((decode(chunk, "uint16", field.byte_order) >> field.bit) & 1)
    return decode(chunk, field.value_type, field.byte_order, field.encoding)


def same(a: object, b: object) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=300, deadline=None)
@given(layouts())
def test_block_decoder_agrees_with_decode(layout: tuple[list[BlockField], bytes]) -> None:
    fields, block = layout
    decoder = BlockDecoder(fields)
    got = decoder.decode(block)
    assert len(got) == len(fields)
    for f, value in zip(fields, got, strict=True):
        assert same(value, reference(f, block)), f
    with_swapped = decoder.decode(block, swap16(block))
    assert all(same(a, b) for a, b in zip(with_swapped, got, strict=True))


def test_block_decoder_fast_path_returns_values_in_field_order() -> None:
    block = encode(1.5, "float32") + encode(-2, "int16") + b"\x00\x00" + encode(7, "uint32")
    decoder = BlockDecoder([BlockField(0, "float32"), BlockField(4, "int16"), BlockField(8, "uint32")])
    assert tuple(decoder.decode(block)) == (1.5, -2, 7)


def test_block_decoder_refuses_a_short_block() -> None:
    decoder = BlockDecoder([BlockField(4, "uint32")])
    with pytest.raises(CodecError, match="shorter"):
        decoder.decode(b"\x00" * 6)


def test_block_decoder_handles_odd_offsets_of_swapped_orders() -> None:
    # byte-addressed blocks (S7) may place a value at an odd offset: decoded slowly but right
    block = b"\x00" + encode(0x11223344, "uint32", "CDAB") + b"\x00"
    assert BlockDecoder([BlockField(1, "uint32", "CDAB")]).decode(block)[0] == 0x11223344
