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


_PREFIXES: dict[str, bytes] = {}
_MAX_PREFIXES = 200_000


def _prefix(tag: str) -> bytes:
    """`{"tag":<name>,"value":` for a tag, made once per tag name."""
    p = _PREFIXES.get(tag)
    if p is None:
        if len(_PREFIXES) >= _MAX_PREFIXES:
            _PREFIXES.clear()
        p = _PREFIXES[tag] = b'{"tag":' + orjson.dumps(tag) + b',"value":'
    return p


_SECOND: list[Any] = [None, b""]


def _iso(ts: float) -> bytes:
    """`iso_ms(ts)` as bytes, with the `YYYY-MM-DDTHH:MM:SS.` part made once per second (the
    rounding is datetime's own: microseconds half-even, then milliseconds truncated)."""
    if not 0 <= ts < 253402300800:  # outside years 1970-9999: the general route
        return iso_ms(ts).encode()
    whole = math.floor(ts)
    us = round((ts - whole) * 1e6)
    if us >= 1_000_000:
        whole += 1
        us -= 1_000_000
    if _SECOND[0] != whole:
        _SECOND[0], _SECOND[1] = whole, iso_ms(whole)[:-4].encode()
    return _SECOND[1] + b"%03dZ" % (us // 1000)


def _suffix(quality: str, ts: float, error: str | None) -> bytes:
    """`,"quality":..,"ts":..[,"error":..]}` of a sample."""
    tail = b',"quality":' + orjson.dumps(quality) + b',"ts":"' + _iso(ts) + b'"'
    if error is not None:
        tail += b',"error":' + orjson.dumps(error, default=str)
    return tail + b"}"


def _slow_json(samples: Sequence[Sample]) -> bytes:
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


def samples_json(samples: Sequence[Sample]) -> bytes:
    """The `samples` array of CONTRACTS §3/§5 (`tag, value, quality, ts`, plus `error` when bad).

    The hot path of every poll cycle: all values are serialized by one `orjson` call and split on
    commas (exact whenever no value holds a comma, i.e. scalars), then spliced between a cached
    per-tag prefix and a suffix shared by the samples of one read. Anything else (arrays, text
    with commas) takes the per-sample dict route, which gives the same bytes.
    """
    if not samples:
        return b"[]"
    values = [s.value for s in samples]
    try:
        blob = orjson.dumps(values, default=str)
    except TypeError:  # e.g. an int beyond 64 bits: let the general route say what it can
        return _slow_json(samples)
    parts = blob[1:-1].split(b",")
    if len(parts) != len(values):
        return _slow_json(samples)
    if b"null" in blob:  # orjson writes inf/-inf as null; the contract says "Infinity"
        for i, v in enumerate(values):
            if isinstance(v, float) and math.isinf(v):
                parts[i] = b'"Infinity"' if v > 0 else b'"-Infinity"'
    prefixes = _PREFIXES
    out = []
    last_ts: float | None = None
    last_quality = ""
    suffix = b""
    for s, v in zip(samples, parts, strict=True):
        if s.error is not None:
            tail = _suffix(s.quality, s.ts, s.error)
        else:
            if s.ts != last_ts or s.quality != last_quality:
                last_ts, last_quality = s.ts, s.quality
                suffix = _suffix(last_quality, last_ts, None)
            tail = suffix
        out.append((prefixes.get(s.tag) or _prefix(s.tag)) + v + tail)
    return b"[" + b",".join(out) + b"]"


def encode(samples: Sequence[Sample]) -> tuple[int, bytes]:
    """`(encoding, blob)` to store for one batch."""
    return pack(samples_json(samples))


def pack(raw: bytes) -> tuple[int, bytes]:
    """`(encoding, blob)` to store for a `samples` array already serialized."""
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
