"""OPC UA values <-> sample values, StatusCode -> quality, and the node's DataType for writes.

Samples travel as JSON (MQTT, API), so every OPC UA value is made JSON-friendly here: DateTime
becomes ISO 8601 text, arrays become lists, ByteString becomes base64 (as in OPC UA's own JSON
encoding), structures become dicts. A write goes the other way and must produce a Variant of the
node's own DataType: servers refuse an Int16 node written with a Double.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import json
import math
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from asyncua.ua.status_codes import get_name_and_doc

from devices.model import BAD, GOOD, UNCERTAIN, Quality, Sample, TagSpec, parse_iso
from drivers.codec import CodecError, coerce
from drivers.opcua.nodeid import NodeIdError, format_nodeid, parse_nodeid

VT = ua.VariantType
_F32 = struct.Struct("<f")
_F32_MAX = 3.4028234663852886e38

# builtin variant type -> the codec's type name (range checks and text parsing live there)
CODEC_NAMES: dict[ua.VariantType, str] = {
    VT.Boolean: "bool", VT.SByte: "int8", VT.Byte: "uint8", VT.Int16: "int16", VT.UInt16: "uint16",
    VT.Int32: "int32", VT.UInt32: "uint32", VT.Int64: "int64", VT.UInt64: "uint64",
    VT.Float: "float32", VT.Double: "float64", VT.String: "string",
}
NUMERIC = frozenset({VT.SByte, VT.Byte, VT.Int16, VT.UInt16, VT.Int32, VT.UInt32, VT.Int64, VT.UInt64,
                     VT.Float, VT.Double})

# well-known namespace-0 DataTypes that are not builtin ids but subtypes of one (saves browsing)
_NS0_SUBTYPES: dict[int, ua.VariantType] = {
    288: VT.UInt32,    # IntegerId
    289: VT.UInt32,    # Counter
    290: VT.Double,    # Duration
    294: VT.DateTime,  # UtcTime
    295: VT.String,    # LocaleId
    291: VT.String,    # NumericRange
    30: VT.ByteString, 2000: VT.ByteString, 2001: VT.ByteString, 2002: VT.ByteString,  # Image*
    2003: VT.ByteString, 2004: VT.ByteString,
    12878: VT.String,  # NormalizedString
    12879: VT.String,  # DecimalString
    12880: VT.String,  # DurationString
    12881: VT.String,  # TimeString
    12882: VT.String,  # DateString
    11737: VT.UInt32,  # BitFieldMaskDataType (UInt64 in newer models; only a hint)
}
_ABSTRACT = {24, 26, 27, 28}  # BaseDataType, Number, Integer, UInteger: the value's own type decides


class WriteValueError(ValueError):
    """A value that cannot be written to this node; the message says why and what is allowed."""


def builtin_of(datatype: ua.NodeId) -> ua.VariantType | None:
    """The builtin type for a namespace-0 DataType known without browsing, else None."""
    if datatype.NamespaceIndex != 0 or not isinstance(datatype.Identifier, int):
        return None
    ident = datatype.Identifier
    if ident in _ABSTRACT:
        return VT.Variant
    if ident == 29:  # Enumeration: values travel as Int32
        return VT.Int32
    if ident == 22:  # Structure
        return VT.ExtensionObject
    if 1 <= ident <= 25:
        return ua.VariantType(ident)
    return _NS0_SUBTYPES.get(ident)


def datatype_name(datatype: ua.NodeId, names: dict[ua.NodeId, str] | None = None) -> str:
    """A readable DataType name: the standard name for namespace 0, else the name read from the server."""
    if datatype.NamespaceIndex == 0 and isinstance(datatype.Identifier, int):
        name = ua.ObjectIdNames.get(datatype.Identifier)
        if name:
            return name
    if names and datatype in names:
        return names[datatype]
    return format_nodeid(datatype)


def good_value(dv: ua.DataValue) -> Any:
    """The value of a DataValue whose status is Good, else None (attribute reads of metadata)."""
    if dv.StatusCode is not None and not dv.StatusCode.is_good():
        return None
    return dv.Value.Value if dv.Value is not None else None


# --- status codes ---------------------------------------------------------------------------

def status_name(code: int) -> str:
    return get_name_and_doc(code & 0xFFFF0000)[0]


def status_text(code: int) -> str:
    """`BadNodeIdUnknown: The node id refers to ...` — the name first, so logs can be grepped."""
    name, doc = get_name_and_doc(code & 0xFFFF0000)
    doc = doc.rstrip(". ")
    return f"{name}: {doc}" if doc else name


def quality_of(code: int) -> Quality:
    """Severity bits of a StatusCode (Part 4 §7.39): 00 Good, 01 Uncertain, 1x Bad."""
    severity = code >> 30
    if severity == 0:
        return GOOD
    if severity == 1:
        return UNCERTAIN
    return BAD


# --- values out ---------------------------------------------------------------------------

def f32(value: float) -> float:
    """The shortest decimal that is the same float32, so `12.3` is not published as 12.300000190734863."""
    if not math.isfinite(value):
        return value
    packed = _F32.pack(value)
    for digits in (6, 7, 8):
        short = float(f"{value:.{digits}g}")
        if _F32.pack(short) == packed:
            return short
    return value


def iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    else:
        dt = dt.astimezone(UTC)
    return f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def to_json(value: Any, single: bool = False) -> Any:
    """A JSON-friendly Python value for any OPC UA value; `single` marks Float (float32) data."""
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return f32(value) if single else value
    if isinstance(value, (list, tuple)):
        return [to_json(v, single) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, ua.QualifiedName):
        return f"{value.NamespaceIndex}:{value.Name}" if value.NamespaceIndex else value.Name
    if isinstance(value, ua.NodeId):
        return format_nodeid(value)
    if isinstance(value, ua.StatusCode):
        return status_name(value.value)
    if isinstance(value, ua.Variant):
        return to_json(value.Value, value.VariantType == VT.Float)
    if isinstance(value, ua.DataValue):
        return to_json(value.Value)
    if isinstance(value, ua.ExtensionObject):
        return {"type": format_nodeid(value.TypeId),
                "body": None if value.Body is None else base64.b64encode(value.Body).decode("ascii")}
    if isinstance(value, ua.XmlElement):
        return value.Value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "Encoding"}
    return str(value)


def _scaled(tag: TagSpec, value: Any) -> Any:
    if tag.scale is None and tag.offset is None:
        return value
    if isinstance(value, list):
        return [_scaled(tag, v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return tag.to_engineering(value)
    return value


def to_sample(device: str, tag: TagSpec, dv: ua.DataValue, now: float) -> Sample:
    """One DataValue as a sample: SourceTimestamp is `ts`, StatusCode decides quality."""
    status = dv.StatusCode
    code = status.value if status is not None else 0
    src = dv.SourceTimestamp
    ts = src.timestamp() if src is not None else now
    if code >> 30 >= 2:
        return Sample(device, tag.name, None, BAD, ts, status_text(code))
    variant = dv.Value
    if variant is None:
        value = None
    else:
        raw = variant.Value
        if type(raw) is float:
            value = f32(raw) if variant.VariantType == VT.Float else raw
        elif type(raw) in (int, bool, str):
            value = raw
        else:
            value = to_json(raw, variant.VariantType == VT.Float)
        value = _scaled(tag, value)
    if code >> 30 == 1:
        return Sample(device, tag.name, value, UNCERTAIN, ts, status_name(code))
    return Sample(device, tag.name, value, GOOD, ts)


# --- values in (writes) -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NodeMeta:
    """What a write needs to know about a node, read from the server once per session."""

    variant_type: ua.VariantType
    value_rank: int
    writable: bool
    datatype: str


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        return datetime.fromtimestamp(parse_iso(str(value)), UTC)
    except ValueError:
        raise WriteValueError(f"{value!r} is not a time (allowed: ISO 8601 like 2026-12-03T08:00:00Z,"
                              " or epoch seconds)") from None


def _scalar(value: Any, vt: ua.VariantType, tag: TagSpec) -> Any:
    codec_name = CODEC_NAMES.get(vt)
    try:
        if vt in NUMERIC:
            assert codec_name is not None
            if tag.scale is not None or tag.offset is not None:
                raw = tag.to_raw(coerce(value, "float64"))
                out = coerce(raw, codec_name)
            else:
                out = coerce(value, codec_name)
            if vt == VT.Float and math.isfinite(out) and abs(out) > _F32_MAX:
                raise WriteValueError(f"{value!r} is out of range for Float (float32, |x| <= 3.4e38)")
            return out
        if codec_name is not None:
            return coerce(value, codec_name)
    except (CodecError, ValueError) as exc:
        if isinstance(exc, WriteValueError):
            raise
        raise WriteValueError(str(exc)) from None
    if vt == VT.DateTime:
        return _datetime(value)
    if vt == VT.ByteString:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        try:
            return base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise WriteValueError(f"{value!r} is not base64 text (ByteString values are written as base64)") from None
    if vt == VT.Guid:
        try:
            return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            raise WriteValueError(f"{value!r} is not a GUID") from None
    if vt == VT.LocalizedText:
        return ua.LocalizedText(str(value))
    if vt == VT.QualifiedName:
        return ua.QualifiedName.from_string(str(value))
    if vt == VT.NodeId:
        try:
            return parse_nodeid(str(value)).to_nodeid()
        except NodeIdError as exc:
            raise WriteValueError(str(exc)) from None
    raise WriteValueError(f"writing {vt.name} values is not supported")


def _infer(value: Any) -> ua.VariantType:
    """For abstract DataTypes (BaseDataType, Number) with no current value to copy the type from."""
    if isinstance(value, bool):
        return VT.Boolean
    if isinstance(value, int):
        return VT.Int64
    if isinstance(value, float):
        return VT.Double
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return VT.String
    return VT.Int64 if number.is_integer() and "." not in text and "e" not in text.lower() else VT.Double


def to_variant(tag: TagSpec, value: Any, meta: NodeMeta, current: ua.VariantType | None = None) -> ua.Variant:
    """A Variant of the node's DataType holding `value` (engineering units; scaling inverted)."""
    vt = meta.variant_type
    if vt == VT.Variant:
        vt = current if current is not None and current not in (VT.Null, VT.Variant) else _infer(value)
    if vt in (VT.ExtensionObject, VT.DataValue, VT.DiagnosticInfo, VT.Null, VT.XmlElement, VT.StatusCode):
        raise WriteValueError(f"writing {meta.datatype} values is not supported (allowed: numbers, bool, text,"
                              " time, GUID, ByteString, NodeId and arrays of these)")
    if isinstance(value, str) and value.lstrip().startswith("[") and meta.value_rank != -1:
        try:
            value = json.loads(value)
        except ValueError:
            raise WriteValueError(f"{value!r} is not a JSON list") from None
    if meta.value_rank >= 1 or (meta.value_rank in (0, -2, -3) and isinstance(value, (list, tuple))):
        if not isinstance(value, (list, tuple)):
            raise WriteValueError(f"the node holds an array of {meta.datatype}: give a list like [1, 2, 3]")
        items: Sequence[Any] = value
        return ua.Variant([_scalar(v, vt, tag) for v in items], vt, is_array=True)
    if isinstance(value, (list, tuple)):
        raise WriteValueError(f"the node holds one {meta.datatype}, not a list")
    return ua.Variant(_scalar(value, vt, tag), vt)
