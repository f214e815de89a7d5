"""One telemetry batch (CONTRACTS §5), checked field by field before anything is stored."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.model import parse_iso

QUALITIES = ("good", "uncertain", "bad")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_SAMPLES = 100_000


class BatchError(ValueError):
    """A batch refused as a whole; the message names the field and what is allowed."""


@dataclass(slots=True)
class Point:
    tag: str
    ts_ms: int
    value: float | None
    text: str | None
    quality: str
    error: str | None = None

    @property
    def numeric(self) -> float | None:
        """The value alarms and statistics use: numbers and booleans, never text."""
        return self.value if self.quality != "bad" else None


@dataclass(slots=True)
class Batch:
    enterprise: str
    gateway: str
    device: str
    epoch: str
    seq: int
    points: list[Point] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.enterprise, self.gateway, self.epoch, self.seq)


def encode_value(value: Any) -> tuple[float | None, str | None]:
    """`(value, text)` columns: numbers in `value`; booleans as 1/0 with text true/false; text alone."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return (1.0 if value else 0.0), ("true" if value else "false")
    if isinstance(value, (int, float)):
        f = float(value)
        if math.isnan(f):
            return None, None
        if math.isinf(f):
            return None, "Infinity" if f > 0 else "-Infinity"
        return f, None
    if isinstance(value, str):
        return None, value
    raise BatchError(f"value: {type(value).__name__} is not a sample value (allowed: number, bool, string, null)")


def decode_value(value: float | None, text: str | None) -> Any:
    if text is not None:
        if value is not None:
            return text == "true"
        return text
    if value is not None and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _name(obj: Mapping[str, Any], key: str, where: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str) or not NAME_RE.match(v):
        raise BatchError(f"{where}{key}: {v!r} is not a name (allowed: 1-64 of letters, digits, _ . -)")
    return v


def parse_batch(
    payload: Any, enterprise: str, gateway: str, device: str | None = None, now_ms: int | None = None
) -> Batch:
    """Check one batch. `device` comes from the MQTT topic when there is one and must agree."""
    if not NAME_RE.match(enterprise):
        raise BatchError(
            f"enterprise: {enterprise!r} is not an enterprise code (allowed: 1-64 of letters, digits, _ . -)"
        )
    if not isinstance(payload, Mapping):
        raise BatchError("body: a JSON object is required ({gateway, device, epoch, seq, samples})")
    gw = _name(payload, "gateway", "")
    if gw != gateway:
        raise BatchError(f"gateway: {gw!r} is not this gateway (allowed: {gateway!r})")
    dev = _name(payload, "device", "")
    if device is not None and dev != device:
        raise BatchError(f"device: {dev!r} differs from the topic's device {device!r}")
    epoch = payload.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, (str, int)) or not str(epoch) or len(str(epoch)) > 64:
        raise BatchError(f"epoch: {epoch!r} is not an epoch id (allowed: a string of 1-64 characters)")
    seq = payload.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq < 2**62:
        raise BatchError(f"seq: {seq!r} is not a sequence number (allowed: integer >= 1)")
    raw = payload.get("samples")
    if not isinstance(raw, list):
        raise BatchError("samples: a list of {tag, value, quality, ts} is required")
    if len(raw) > MAX_SAMPLES:
        raise BatchError(f"samples: {len(raw)} samples in one batch (allowed: at most {MAX_SAMPLES})")
    points = [_point(s, i, now_ms) for i, s in enumerate(raw)]
    return Batch(enterprise, gateway, dev, str(epoch), seq, points)


def _point(s: Any, i: int, now_ms: int | None) -> Point:
    where = f"samples.{i}."
    if not isinstance(s, Mapping):
        raise BatchError(f"samples.{i}: a JSON object {{tag, value, quality, ts}} is required")
    tag = s.get("tag")
    if not isinstance(tag, str) or not 1 <= len(tag) <= 100:
        raise BatchError(f"{where}tag: {tag!r} is not a tag name (allowed: a string of 1-100 characters)")
    quality = s.get("quality", "good")
    if quality not in QUALITIES:
        raise BatchError(f"{where}quality: {quality!r} (allowed: {', '.join(QUALITIES)})")
    ts = s.get("ts")
    if ts is None and now_ms is not None:
        ts_ms = now_ms
    else:
        if not isinstance(ts, str):
            raise BatchError(f"{where}ts: {ts!r} is not a time (allowed: ISO 8601, e.g. 2026-12-03T08:00:00.125Z)")
        try:
            ts_ms = round(parse_iso(ts) * 1000)
        except (ValueError, OverflowError):
            raise BatchError(f"{where}ts: {ts!r} is not a time (allowed: ISO 8601)") from None
    try:
        value, text = encode_value(s.get("value"))
    except BatchError as e:
        raise BatchError(f"{where}{e}") from None
    error = s.get("error")
    if error is not None and not isinstance(error, str):
        raise BatchError(f"{where}error: must be a string")
    if quality == "bad":
        value, text = None, None
    return Point(tag, ts_ms, value, text, quality, error[:2000] if error else None)
