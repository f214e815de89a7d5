"""Belt-scale totalizer differencing, and the per-shift production it writes for metered enterprises."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from mine_ledger import Ledger, ValidationError
from mine_ledger.meters import MeterSpec, MeterState, difference, spread
from mine_ledger.values import TZ

from .conftest import ENTERPRISE

T0 = datetime(2026, 11, 3, 0, 0, tzinfo=TZ)
SPEC = MeterSpec(1, "gw/belt/total", "production", "raw", "raw_yard", Decimal(600), Decimal("10000"), 600)


def run(values: list[tuple[int, str | None]], spec: MeterSpec = SPEC) -> list[tuple[str, str | None]]:
    """(minutes after T0, value) -> (status, delta)."""
    state = MeterState()
    series = [(T0 + timedelta(minutes=m), Decimal(v) if v is not None else None, "good") for m, v in values]
    return [(s.status, str(s.delta) if s.delta is not None else None) for s in difference(spec, state, series)]


def test_plain_increments() -> None:
    assert run([(0, "100"), (1, "105"), (2, "105")]) == [("first", None), ("ok", "5"), ("ok", "0")]


def test_rollover_near_the_register_maximum() -> None:
    assert run([(0, "9995"), (1, "3")])[1] == ("rollover", "8")


def test_counter_reset_counts_from_zero() -> None:
    assert run([(0, "5000"), (1, "4"), (2, "9")])[1:] == [("reset", "4"), ("ok", "5")]


def test_spike_is_rejected_and_the_series_continues() -> None:
    # 600 t/h allows 10 t a minute
    assert run([(0, "100"), (1, "900"), (2, "115")])[1:] == [("spike", None), ("ok", "15")]


def test_step_to_a_new_level_is_confirmed_by_the_next_reading() -> None:
    # a replaced scale starting at 7000: the jump is not production, what follows is
    assert run([(0, "100"), (1, "7000"), (2, "7008")])[1:] == [("spike", None), ("jump", "8")]
    # a drop to a high value (not a wrap, not near zero) confirmed the same way
    assert run([(0, "5000"), (1, "3000"), (2, "3006")])[1:] == [("spike", None), ("reset", "6")]


def test_gap_is_counted_and_reported() -> None:
    state = MeterState()
    series = [(T0, Decimal(0), "good"), (T0 + timedelta(hours=2), Decimal(300), "good")]
    steps = difference(SPEC, state, series)
    assert steps[1].status == "ok" and steps[1].gap_s == 7200 and steps[1].delta == 300


def test_bad_late_and_duplicate_readings_are_ignored() -> None:
    state = MeterState()
    series = [(T0, Decimal(0), "good"), (T0 + timedelta(minutes=1), None, "bad"),
              (T0 + timedelta(minutes=2), Decimal(5), "good"), (T0 + timedelta(minutes=2), Decimal(5), "good"),
              (T0 + timedelta(minutes=1), Decimal(3), "good")]
    assert [s.status for s in difference(SPEC, state, series)] == ["first", "bad", "ok", "duplicate", "late"]


def test_spread_keeps_every_kilogram() -> None:
    periods = [("a", T0, T0 + timedelta(hours=8)), ("b", T0 + timedelta(hours=8), T0 + timedelta(hours=16))]
    parts = spread(1001, T0 + timedelta(hours=7), T0 + timedelta(hours=10), periods)
    assert [p[3] for p in parts] == [333, 668] and sum(p[3] for p in parts) == 1001


def readings(start: datetime, hours: float, rate_tph: float, step_min: int = 10, base: float = 0.0,
             tag: str = "total_t") -> list[dict[str, Any]]:
    out = []
    for i in range(int(hours * 60 / step_min) + 1):
        ts = start + timedelta(minutes=i * step_min)
        out.append({"gateway": "gw1", "device": "belt_scale_1", "tag": tag, "ts": ts.isoformat(),
                    "value": round(base + rate_tph * i * step_min / 60, 3), "quality": "good"})
    return out


MAPPING = [{"gateway": "gw1", "device": "belt_scale_1", "tag": "total_t", "measures": "production", "product": "raw",
            "stockpile": "raw_yard", "max_rate": 1000}]


def test_metered_enterprise_gets_per_shift_production_entries(ledger: Ledger) -> None:
    code = ledger.create_enterprise(ENTERPRISE | {"production_source": "metered"})["code"]
    assert ledger.set_meters(code, MAPPING)[0]["max_rate"] == "1000"
    day = datetime(2026, 11, 3, tzinfo=TZ)
    r = ledger.add_meter_readings(code, readings(day + timedelta(hours=8), 9, 300))  # 08:00-17:00 at 300 t/h
    assert r["accepted"] == 55 and r["rejected"] == []
    # the day shift is complete (a reading at 17:00 exists); the evening shift is not
    assert [(e["shift"], e["tonnes"], e["source"]) for e in r["entries"]] == [("day", "2400.000", "telemetry")]
    assert r["entries"][0]["from"] == "2026-11-03T08:00:00+08:00"
    spike = {"gateway": "gw1", "device": "belt_scale_1", "tag": "total_t",
             "ts": (day + timedelta(hours=17, minutes=5)).isoformat(), "value": 99999}
    more = readings(day + timedelta(hours=17, minutes=10), 7, 300, base=2700 + 50)
    unmapped = {"device": "other", "tag": "x", "ts": day.isoformat(), "value": 1}
    malformed = {"device": "belt_scale_1", "tag": "total_t", "ts": "yesterday", "value": 1}
    r2 = ledger.add_meter_readings(code, [spike, *more, unmapped, malformed])
    assert [x["status"] for x in r2["rejected"]] == ["spike"] and r2["ignored"] == 2
    assert r2["invalid"][0]["index"] == len(more) + 2
    assert [(e["shift"], e["tonnes"]) for e in r2["entries"]] == [("evening", "2400.000")]
    assert ledger.summary(code, "2026-11-03")["production"] == "4800.000"
    shifts = ledger.meter_production(code)
    assert [(s["shift"], s["amount"]) for s in shifts] == [
        ("day", "2400.000"), ("evening", "2400.000"), ("night", "50.000")]
    assert ledger.verify(code)["ok"]


def test_declared_enterprise_meters_move_no_stock(ledger: Ledger, mine: str) -> None:
    ledger.set_meters(mine, MAPPING)
    day = datetime(2026, 11, 3, tzinfo=TZ)
    r = ledger.add_meter_readings(mine, readings(day, 24.5, 100, step_min=30))
    assert r["entries"] == [] and ledger.balance(mine) == []
    ledger.append(mine, {"kind": "production", "tonnes": "2500", "at": "2026-11-03T12:00", "stockpile": "raw_yard"})
    found = [a for a in ledger.anomalies(mine, "2026-11-01", "2026-12-01") if a["code"] == "TELEMETRY_MISMATCH"]
    assert [(a["at"], a["figures"]["declared"], a["figures"]["metered"]) for a in found] == [
        ("2026-11-03T00:00:00+08:00", "2500.000", "2400.000")]


def test_meter_mapping_validation(ledger: Ledger, mine: str) -> None:
    with pytest.raises(ValidationError):
        ledger.set_meters(mine, [{"device": "d", "tag": "t", "measures": "water"}])
    with pytest.raises(ValidationError):
        ledger.set_meters(mine, [MAPPING[0], MAPPING[0]])
    ledger.set_meters(mine, [*MAPPING, {"gateway": "gw1", "device": "pm", "tag": "kwh", "measures": "energy"}])
    assert len(ledger.get_meters(mine)) == 2
    ledger.set_meters(mine, MAPPING)
    assert [m["tag"] for m in ledger.get_meters(mine)] == ["total_t"]
