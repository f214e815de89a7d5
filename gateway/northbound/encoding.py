"""How a batch is stored and how it is put on the wire.

A batch is stored as the JSON `samples` array of the MQTT payload (CONTRACTS §5), deflated when
that pays, so a replay only inflates and wraps it in the envelope: no per-sample work on the hot
path of draining a backlog.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import orjson

from devices.model import Sample, iso_ms

RAW = 0
DEFLATE = 1
COMPRESS_ABOVE = 200
"""Bytes of JSON above which a batch is deflated (smaller ones do not shrink enough to pay)."""


def _value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def samples_json(samples: Sequence[Sample]) -> bytes:
    """The `samples` array of CONTRACTS §5 (`tag, value, quality, ts`, plus `error` when bad)."""
    iso_cache: dict[float, str] = {}
    items = []
    for s in samples:
        ts = iso_cache.get(s.ts)
        if ts is None:
            ts = iso_cache[s.ts] = iso_ms(s.ts)
        d: dict[str, Any] = {"tag": s.tag, "value": _value(s.value), "quality": s.quality, "ts": ts}
        if s.error is not None:
            d["error"] = s.error
        items.append(d)
    return orjson.dumps(items, default=str)


def encode(samples: Sequence[Sample]) -> tuple[int, bytes]:
    """`(encoding, blob)` to store for one batch."""
    raw = samples_json(samples)
    if len(raw) > COMPRESS_ABOVE:
        packed = zlib.compress(raw, 1)
        if len(packed) < len(raw):
            return DEFLATE, packed
    return RAW, raw


def decode(encoding: int, blob: bytes) -> bytes:
    """The stored `samples` JSON array, inflated."""
    if encoding == DEFLATE:
        return zlib.decompress(blob)
    if encoding == RAW:
        return bytes(blob)
    raise ValueError(f"unknown batch encoding {encoding}")


class Envelope:
    """Builds `{"gateway","device","epoch","seq","samples"}` around a stored array by byte
    concatenation; the per-device prefix is made once."""

    def __init__(self, gateway: str, epoch: str) -> None:
        self._gateway = orjson.dumps(gateway)
        self._epoch = orjson.dumps(epoch)
        self._prefix: dict[str, bytes] = {}

    def wrap(self, device: str, seq: int, samples: bytes) -> bytes:
        prefix = self._prefix.get(device)
        if prefix is None:
            prefix = self._prefix[device] = (
                b'{"gateway":' + self._gateway + b',"device":' + orjson.dumps(device)
                + b',"epoch":' + self._epoch + b',"seq":'
            )
        return b"".join((prefix, str(seq).encode(), b',"samples":', samples, b"}"))
