"""InfluxDB line protocol for stored batches: measurement = device, tags enterprise/gateway/device,
one field per tag, one line per distinct sample time (ms precision).

Bad samples have no value and are left out; so are values line protocol cannot carry
(non-finite numbers). Both are counted by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_NON_FINITE = ("Infinity", "-Infinity")


def escape_key(text: str) -> str:
    """Measurement names, tag keys/values and field keys: commas, equals signs and spaces."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def field_value(value: Any) -> str | None:
    """A field value in line protocol, or None when it cannot be written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return f"{value}i"
        return repr(float(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if value in _NON_FINITE:
            return None
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return None


def _ms(ts: str) -> int:
    return round(datetime.fromisoformat(ts).timestamp() * 1000)


class LineFormatter:
    """Formats batches of one gateway; keeps each device's series key ready."""

    def __init__(self, enterprise: str, gateway: str) -> None:
        self._tags = f"enterprise={escape_key(enterprise)},gateway={escape_key(gateway)}"
        self._keys: dict[str, str] = {}
        self._ts: dict[str, int] = {}

    def lines(self, device: str, samples_json: bytes, out: list[str]) -> tuple[int, int]:
        """Append the lines of one batch to `out`; returns (written samples, left-out samples)."""
        key = self._keys.get(device)
        if key is None:
            key = self._keys[device] = f"{escape_key(device)},{self._tags},device={escape_key(device)}"
        by_time: dict[str, list[str]] = {}
        written = skipped = 0
        for s in orjson.loads(samples_json):
            if s.get("quality") == "bad" or s.get("value") is None:
                skipped += 1
                continue
            value = field_value(s["value"])
            if value is None:
                skipped += 1
                continue
            by_time.setdefault(s["ts"], []).append(f"{escape_key(s['tag'])}={value}")
            written += 1
        if len(self._ts) > 10_000:
            self._ts.clear()
        for ts, fields in by_time.items():
            ms = self._ts.get(ts)
            if ms is None:
                ms = self._ts[ts] = _ms(ts)
            out.append(f"{key} {','.join(fields)} {ms}")
        return written, skipped
