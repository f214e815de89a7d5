"""Value and status mapping without a server: what a DataValue becomes, what a write sends."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime

import pytest
from asyncua import ua
from hypothesis import given
from hypothesis import strategies as st

from devices.model import TagSpec
from drivers.opcua.typemap import (
    NodeMeta,
    WriteValueError,
    builtin_of,
    f32,
    quality_of,
    status_text,
    to_sample,
    to_variant,
)

VT = ua.VariantType
T = TagSpec("t", "ns=2;s=x")


def dv(value: object, vt: ua.VariantType, status: int = 0, ts: datetime | None = None) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, vt), StatusCode=ua.StatusCode(status), SourceTimestamp=ts)


@pytest.mark.parametrize(("code", "quality"), [
    (ua.StatusCodes.Good, "good"), (ua.StatusCodes.GoodClamped, "good"),
    (ua.StatusCodes.UncertainLastUsableValue, "uncertain"), (ua.StatusCodes.UncertainSensorNotAccurate, "uncertain"),
    (ua.StatusCodes.BadSensorFailure, "bad"), (ua.StatusCodes.BadNodeIdUnknown, "bad"),
])
def test_status_severity_decides_quality(code: int, quality: str) -> None:
    assert quality_of(code) == quality


def test_status_text_starts_with_the_name_even_with_info_bits() -> None:
    assert status_text(ua.StatusCodes.BadNodeIdUnknown).startswith("BadNodeIdUnknown: ")
    assert status_text(ua.StatusCodes.BadSensorFailure | 0x0400).startswith("BadSensorFailure")


def test_source_timestamp_is_ts_and_bad_has_no_value() -> None:
    src = datetime(2026, 12, 3, 8, 0, 0, 125000, tzinfo=UTC)
    good = to_sample("d", T, dv(1.5, VT.Double, ts=src), now=0.0)
    assert (good.value, good.quality, good.ts, good.error) == (1.5, "good", src.timestamp(), None)
    bad = to_sample("d", T, dv(9.9, VT.Double, ua.StatusCodes.BadSensorFailure, src), now=0.0)
    assert bad.value is None and bad.quality == "bad" and bad.error.startswith("BadSensorFailure")
    unc = to_sample("d", T, dv(2.0, VT.Double, ua.StatusCodes.UncertainLastUsableValue), now=5.0)
    assert (unc.value, unc.quality, unc.error, unc.ts) == (2.0, "uncertain", "UncertainLastUsableValue", 5.0)


@pytest.mark.parametrize(("value", "vt", "expected"), [
    (True, VT.Boolean, True), (-5, VT.SByte, -5), (65535, VT.UInt16, 65535), (2**64 - 1, VT.UInt64, 2**64 - 1),
    (12.300000190734863, VT.Float, 12.3), (0.1, VT.Double, 0.1), ("煤", VT.String, "煤"),
    (datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC), VT.DateTime, "2026-01-02T03:04:05.678Z"),
    (b"\x00\xff", VT.ByteString, "AP8="), (uuid.UUID(int=1), VT.Guid, "00000000-0000-0000-0000-000000000001"),
    (ua.LocalizedText("原煤"), VT.LocalizedText, "原煤"), (ua.QualifiedName("Flow", 2), VT.QualifiedName, "2:Flow"),
    (ua.NodeId(1001, 2), VT.NodeId, "ns=2;i=1001"), ([1.5, 2.5], VT.Double, [1.5, 2.5]),
    ([0.1, 0.2], VT.Float, [0.1, 0.2]), ([[1, 2], [3, 4]], VT.Int32, [[1, 2], [3, 4]]),
    (ua.StatusCode(ua.StatusCodes.BadTimeout), VT.StatusCode, "BadTimeout"), (None, VT.Null, None),
])
def test_values_become_json_friendly(value: object, vt: ua.VariantType, expected: object) -> None:
    assert to_sample("d", T, dv(value, vt), 0.0).value == expected


def test_scale_and_offset_apply_to_numbers_and_arrays_not_text() -> None:
    scaled = TagSpec("t", "ns=2;s=x", scale=0.1, offset=1.0)
    assert to_sample("d", scaled, dv(100, VT.Int16), 0.0).value == pytest.approx(11.0)
    assert to_sample("d", scaled, dv([10, 20], VT.Int16), 0.0).value == pytest.approx([2.0, 3.0])
    assert to_sample("d", scaled, dv("x", VT.String), 0.0).value == "x"
    assert to_sample("d", scaled, dv(True, VT.Boolean), 0.0).value is True


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_shortening_keeps_the_same_float32(x: float) -> None:
    short = f32(x)
    assert struct.pack("<f", short) == struct.pack("<f", x)
    assert len(repr(short)) <= len(repr(x))


def meta(vt: ua.VariantType, rank: int = -1, name: str | None = None) -> NodeMeta:
    return NodeMeta(vt, rank, True, name or vt.name)


@pytest.mark.parametrize(("value", "vt", "expected"), [
    ("1", VT.Boolean, True), ("off", VT.Boolean, False), ("-7", VT.Int16, -7), (7.6, VT.Int32, 8),
    ("2.5", VT.Float, 2.5), (3, VT.Double, 3.0), (42, VT.String, "42"), (2**64 - 1, VT.UInt64, 2**64 - 1),
    ("2026-12-03T08:00:00Z", VT.DateTime, datetime(2026, 12, 3, 8, tzinfo=UTC)),
    ("AP8=", VT.ByteString, b"\x00\xff"), (str(uuid.UUID(int=5)), VT.Guid, uuid.UUID(int=5)),
    ("ns=2;s=Flow", VT.NodeId, ua.NodeId("Flow", 2)),
])
def test_writes_convert_to_the_node_type(value: object, vt: ua.VariantType, expected: object) -> None:
    variant = to_variant(T, value, meta(vt))
    assert variant.VariantType == vt
    assert variant.Value == expected


@pytest.mark.parametrize(("value", "vt", "rank", "needle"), [
    (70000, VT.Int16, -1, "out of range for int16"), (-1, VT.UInt32, -1, "out of range"),
    ("abc", VT.Double, -1, "not a number"), ("maybe", VT.Boolean, -1, "not a bool"),
    (1e39, VT.Float, -1, "out of range for Float"), ("yesterday", VT.DateTime, -1, "not a time"),
    ("zz", VT.Guid, -1, "not a GUID"), (5, VT.Double, 1, "give a list"), ([1, 2], VT.Double, -1, "not a list"),
    ("[1, 2", VT.Double, 1, "not a JSON list"), ("x", VT.ExtensionObject, -1, "not supported"),
])
def test_bad_write_values_say_why(value: object, vt: ua.VariantType, rank: int, needle: str) -> None:
    with pytest.raises(WriteValueError, match=needle.replace("(", r"\(")):
        to_variant(T, value, meta(vt, rank))


def test_write_inverts_scaling_and_rounds_for_integers() -> None:
    scaled = TagSpec("t", "ns=2;s=x", scale=0.1, offset=1.0)
    assert to_variant(scaled, 11.0, meta(VT.Int16)).Value == 100
    assert to_variant(scaled, "[2, 3]", meta(VT.Int16, 1)).Value == [10, 20]


def test_abstract_datatype_takes_the_current_value_type_or_infers() -> None:
    m = meta(VT.Variant, name="BaseDataType")
    assert to_variant(T, "5", m, current=VT.UInt16).VariantType == VT.UInt16
    assert to_variant(T, "5", m).VariantType == VT.Int64
    assert to_variant(T, "5.5", m).VariantType == VT.Double
    assert to_variant(T, "text", m).VariantType == VT.String


@pytest.mark.parametrize(("datatype", "vt"), [
    (ua.NodeId(11), VT.Double), (ua.NodeId(290), VT.Double), (ua.NodeId(294), VT.DateTime),
    (ua.NodeId(29), VT.Int32), (ua.NodeId(26), VT.Variant), (ua.NodeId(22), VT.ExtensionObject),
    (ua.NodeId(5000, 2), None),
])
def test_builtin_of_known_datatypes(datatype: ua.NodeId, vt: ua.VariantType | None) -> None:
    assert builtin_of(datatype) == vt
