"""The unified, protocol-free device model: every driver, sink and profile speaks these types.

This module sits at the bottom of the import graph and imports nothing of the project, so that
drivers, the gateway runtime, profiles and the platform can all share one vocabulary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

Quality = Literal["good", "uncertain", "bad"]
GOOD: Quality = "good"
UNCERTAIN: Quality = "uncertain"
BAD: Quality = "bad"

VALUE_TYPES = (
    "bool",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
    "string",
)
"""Canonical value types (CONTRACTS §2); protocol-specific names (S7 `dint`...) map onto these."""

BYTE_ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
TAG_FIELDS = (
    "name", "address", "type", "access", "scale", "offset", "byte_order", "length", "encoding", "unit",
    "deadband", "heartbeat", "mode", "interval", "description", "alarms",
)
"""Fields a tag may have in a config file or a profile (CONTRACTS §1, plus description and alarms)."""
ENCODINGS = ("ascii", "gbk", "utf-8")


class Access(StrEnum):
    READ = "r"
    READ_WRITE = "rw"
    WRITE = "w"


@dataclass(frozen=True, slots=True)
class AlarmThreshold:
    """A default alarm level carried by a device profile; the platform turns it into a rule.

    `above`/`below` trigger, `clear` is the hysteresis point (defaults to the trigger), `delay`
    (seconds) is how long the condition must hold before the alarm is raised.
    """

    name: str
    severity: Literal["info", "warning", "major", "critical"] = "warning"
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One point of a device: `name + address + type + access` plus engineering metadata."""

    name: str
    address: str
    type: str | None = None
    access: Access = Access.READ
    scale: float | None = None
    offset: float | None = None
    byte_order: str = "ABCD"
    length: int | None = None
    encoding: str = "ascii"
    unit: str | None = None
    deadband: float | None = None
    heartbeat: float | None = None
    mode: str | None = None
    interval: float | None = None
    description: str = ""
    alarms: tuple[AlarmThreshold, ...] = ()

    @property
    def readable(self) -> bool:
        return self.access != Access.WRITE

    @property
    def writable(self) -> bool:
        return self.access != Access.READ

    def to_engineering(self, raw: Any) -> Any:
        """Apply `raw × scale + offset`; booleans and strings pass through unscaled."""
        if (self.scale is None and self.offset is None) or isinstance(raw, (bool, str)) or raw is None:
            return raw
        return raw * (1 if self.scale is None else self.scale) + (self.offset or 0)

    def to_raw(self, value: Any) -> Any:
        """Inverse of `to_engineering`, used before a write."""
        if (self.scale is None and self.offset is None) or isinstance(value, (bool, str)) or value is None:
            return value
        scale = 1 if self.scale is None else self.scale
        if scale == 0:
            raise ValueError(f"tag {self.name}: scale 0 cannot be inverted for a write")
        return (value - (self.offset or 0)) / scale


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device polled by one driver instance."""

    name: str
    driver: str
    connection: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[TagSpec, ...] = ()
    interval: float = 1.0
    heartbeat: float | None = 60.0
    options: Mapping[str, Any] = field(default_factory=dict)
    profile: str | None = None
    timeout: float = 1.0

    def tag(self, name: str) -> TagSpec:
        for t in self.tags:
            if t.name == name:
                return t
        raise KeyError(f"device {self.name} has no tag {name!r}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds for a duration as written in configs and profiles (`500ms`, `1s`, `5m`, `2h`, `7d`,
    or bare seconds); `ValueError` says what is allowed."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a bool")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration (allowed: e.g. 500ms, 1s, 5m, 2h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def positive_duration(value: Any) -> float:
    """A duration that must be finite and longer than zero (timeouts, intervals)."""
    seconds = parse_duration(value)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{value!r} must be a positive, finite duration")
    return seconds


def now_ts() -> float:
    return datetime.now(UTC).timestamp()


def iso_ms(ts: float) -> str:
    """UTC ISO 8601 with milliseconds and `Z`, the one time format of samples (CONTRACTS §3)."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> float:
    """Parse an ISO 8601 time (a trailing `Z` allowed) into a UTC epoch; naive means UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass(slots=True)
class Sample:
    """One reading (CONTRACTS §3). `ts` is a UTC epoch in seconds; a `bad` sample has no value."""

    device: str
    tag: str
    value: Any
    quality: Quality = GOOD
    ts: float = field(default_factory=now_ts)
    error: str | None = None

    @classmethod
    def bad(cls, device: str, tag: str, error: str, ts: float | None = None) -> Sample:
        return cls(device, tag, None, BAD, now_ts() if ts is None else ts, error)

    def to_dict(self, with_device: bool = True) -> dict[str, Any]:
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        d: dict[str, Any] = {"tag": self.tag, "value": value, "quality": self.quality, "ts": iso_ms(self.ts)}
        if with_device:
            d = {"device": self.device, **d}
        if self.error is not None:
            d["error"] = self.error
        return d
