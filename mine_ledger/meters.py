"""Meter series: belt-scale 皮带秤 totalizers and power meters turned into per-shift totals.

A lifetime totalizer is differenced, never integrated: the difference of two good readings is what
passed the scale, whatever happened in between. The differencing copes with a register that wraps
(rollover), a counter reset or replacement, silences (gaps, reported, still counted) and spikes (an
increase above ``max_rate`` × elapsed time is rejected and reported; if the next reading confirms
the new level it was a step, and the series continues from there without counting the step).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from mine_ledger.errors import ValidationError
from mine_ledger.periods import ShiftTable
from mine_ledger.values import Q3, day_start, fmt_time, parse_time

MEASURES = ("production", "energy")
DEFAULT_MAX_RATE = {"production": Decimal(3000), "energy": Decimal(100000)}  # t/h, kW
DEFAULT_MAX_GAP_S = 600
SLACK = Decimal("0.01")  # one totalizer step of rounding allowed on top of max_rate x elapsed
OFF_SHIFT = "off"


@dataclass
class MeterSpec:
    id: int
    label: str
    measures: str
    product: str | None
    stockpile: str | None
    max_rate: Decimal
    rollover: Decimal | None
    max_gap_s: int


@dataclass
class MeterState:
    last_ts: datetime | None = None
    last: Decimal | None = None
    pending_ts: datetime | None = None
    pending: Decimal | None = None


@dataclass
class Step:
    """What became of one reading."""

    ts: datetime
    value: Decimal | None
    quality: str
    status: str  # first ok rollover reset jump | spike (rejected) | bad late duplicate (ignored)
    since: datetime | None = None
    delta: Decimal | None = None
    gap_s: float | None = None

    @property
    def accepted(self) -> bool:
        return self.status in ("ok", "rollover", "reset", "jump")


def reading_value(value: Any) -> Decimal | None:
    """Telemetry values arrive as JSON numbers: round to 3 places (kg, Wh) instead of refusing."""
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d.quantize(Q3) if d.is_finite() else None


def difference(
    spec: MeterSpec, state: MeterState, readings: Iterable[tuple[datetime, Decimal | None, str]]
) -> list[Step]:
    """Turn readings (sorted by time) into increments; ``state`` carries over between batches."""
    steps: list[Step] = []
    for ts, value, quality in readings:
        if value is None or quality == "bad":
            steps.append(Step(ts, value, quality, "bad"))
            continue
        if state.last_ts is None or state.last is None:
            state.last_ts, state.last = ts, value
            steps.append(Step(ts, value, quality, "first"))
            continue
        if ts <= state.last_ts:
            steps.append(Step(ts, value, quality, "duplicate" if ts == state.last_ts else "late"))
            continue
        elapsed_h = Decimal((ts - state.last_ts).total_seconds()) / 3600
        allow = spec.max_rate * elapsed_h + SLACK
        diff = value - state.last
        since = state.last_ts
        step = Step(ts, value, quality, "spike", since=since)
        if Decimal(0) <= diff <= allow:
            step.status, step.delta = "ok", diff
        elif diff < 0 and spec.rollover is not None and Decimal(0) <= spec.rollover - state.last + value <= allow:
            step.status, step.delta = "rollover", spec.rollover - state.last + value
        elif (
            state.pending_ts is not None and state.pending is not None and ts > state.pending_ts
            and Decimal(0) <= value - state.pending
            <= spec.max_rate * Decimal((ts - state.pending_ts).total_seconds()) / 3600 + SLACK
        ):
            # the earlier outlier was a real step (counter replaced or reset to a new value)
            step.status = "reset" if state.pending < state.last else "jump"
            step.since, step.delta = state.pending_ts, value - state.pending
        elif diff < 0 and value <= allow:
            step.status, step.delta = "reset", value  # counted up again from zero since the reset
        if step.accepted:
            assert step.since is not None
            gap = (ts - step.since).total_seconds()
            if gap > spec.max_gap_s:
                step.gap_s = gap
            state.last_ts, state.last = ts, value
            state.pending_ts = state.pending = None
        else:
            state.pending_ts, state.pending = ts, value
        steps.append(step)
    return steps


def timeline(shifts: ShiftTable, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """Shift instances covering ``[start, end)``, with the time between shifts as ``off`` periods."""
    inst = [(sh.name, s, e) for sh, s, e in shifts.instances(start - timedelta(days=1), end + timedelta(days=1))]
    out: list[tuple[str, datetime, datetime]] = []
    for i, (name, s, e) in enumerate(inst):
        out.append((name, s, e))
        if i + 1 < len(inst) and inst[i + 1][1] > e:
            out.append((OFF_SHIFT, e, inst[i + 1][1]))
    if not out:  # no shifts at all: whole days
        d = day_start(start)
        while d < end:
            out.append((OFF_SHIFT, d, d + timedelta(days=1)))
            d += timedelta(days=1)
    return [(n, s, e) for n, s, e in out if s < end and e > start]


def spread(
    milli: int, since: datetime, ts: datetime, periods: Sequence[tuple[str, datetime, datetime]]
) -> list[tuple[str, datetime, datetime, int, int]]:
    """Split an increase over ``(since, ts]`` across periods pro rata by time: (name, start, end, milli, ms)."""
    total_us = int((ts - since) / timedelta(microseconds=1))
    parts: list[tuple[str, datetime, datetime, int, int]] = []
    given = 0
    for name, s, e in periods:
        lo, hi = max(s, since), min(e, ts)
        if hi <= lo:
            continue
        us = int((hi - lo) / timedelta(microseconds=1))
        share = milli * us // total_us if total_us else 0
        given += share
        parts.append((name, s, e, share, us // 1000))
    if parts and given != milli:
        name, s, e, share, ms = parts[-1]
        parts[-1] = (name, s, e, share + milli - given, ms)
    return parts


def parse_mapping(items: Sequence[Mapping[str, Any]], products: Sequence[str]) -> list[dict[str, Any]]:
    """Validate a meter mapping (CONTRACTS §7 ``PUT .../meters``)."""
    if not isinstance(items, list | tuple):
        raise ValidationError("meters: expected a list", field="meters")
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    allowed = {"gateway", "device", "tag", "measures", "product", "stockpile", "max_rate", "rollover", "max_gap"}
    for i, item in enumerate(items):
        f = f"meters.{i}"
        if not isinstance(item, Mapping):
            raise ValidationError(f'{f}: expected {{"gateway", "device", "tag", "measures", "product"}}', field=f)
        for key in item:
            if key not in allowed:
                raise ValidationError(f"{f}.{key}: unknown field (allowed: {', '.join(sorted(allowed))})",
                                      field=f"{f}.{key}")
        vals: dict[str, Any] = {}
        for key in ("gateway", "device", "tag"):
            v = item.get(key)
            if key == "gateway" and v in (None, ""):
                v = ""
            elif not isinstance(v, str) or not v.strip():
                raise ValidationError(f"{f}.{key}: required", field=f"{f}.{key}")
            vals[key] = str(v).strip()
        measures = item.get("measures")
        if measures not in MEASURES:
            raise ValidationError(f"{f}.measures: must be one of {', '.join(MEASURES)}", field=f"{f}.measures")
        vals["measures"] = measures
        product = item.get("product") or ("raw" if measures == "production" else None)
        if product is not None and product not in products:
            raise ValidationError(f"{f}.product: unknown product {product!r}", field=f"{f}.product")
        vals["product"] = product
        vals["stockpile"] = (item.get("stockpile") or f"{product}_yard") if measures == "production" else None
        try:
            rate = Decimal(str(item["max_rate"])) if item.get("max_rate") is not None else DEFAULT_MAX_RATE[measures]
            roll = Decimal(str(item["rollover"])) if item.get("rollover") is not None else None
        except (InvalidOperation, ValueError):
            raise ValidationError(f"{f}: max_rate and rollover must be numbers", field=f) from None
        if rate <= 0 or (roll is not None and roll <= 0):
            raise ValidationError(f"{f}: max_rate and rollover must be positive", field=f)
        vals["max_rate"], vals["rollover"] = str(rate), (str(roll) if roll is not None else None)
        gap = item.get("max_gap", DEFAULT_MAX_GAP_S)
        if isinstance(gap, bool) or not isinstance(gap, int) or gap <= 0:
            raise ValidationError(f"{f}.max_gap: seconds, a positive whole number", field=f"{f}.max_gap")
        vals["max_gap_s"] = gap
        key3 = (vals["gateway"], vals["device"], vals["tag"])
        if key3 in seen:
            raise ValidationError(f"{f}: {'/'.join(key3)} is mapped twice", field=f)
        seen.add(key3)
        out.append(vals)
    return out


def parse_reading(r: Mapping[str, Any], i: int) -> tuple[str | None, str, str, datetime, Decimal | None, str]:
    if not isinstance(r, Mapping):
        raise ValidationError(f"readings.{i}: expected an object", field=f"readings.{i}")
    device, tag = r.get("device"), r.get("tag")
    if not isinstance(device, str) or not isinstance(tag, str):
        raise ValidationError(f"readings.{i}: device and tag are required", field=f"readings.{i}")
    ts = parse_time(r.get("ts"), f"readings.{i}.ts")
    quality = str(r.get("quality") or "good")
    gw = r.get("gateway")
    return (str(gw) if gw else None), device, tag, ts, reading_value(r.get("value")), quality


def step_report(label: str, s: Step) -> dict[str, Any]:
    return {"meter": label, "ts": fmt_time(s.ts), "value": str(s.value) if s.value is not None else None,
            "status": s.status, "since": fmt_time(s.since),
            "delta": str(s.delta) if s.delta is not None else None}
