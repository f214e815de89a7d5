from datetime import datetime, timedelta
from decimal import Decimal

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.rules.base import MeterPeriod
from mine_ledger.rules.memory import MemoryView, entry
from mine_ledger.rules.telemetry import EnergyOutputMismatch, TelemetryMismatch
from mine_ledger.values import TZ

ENT = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "coal_mine"})
NOV, DEC = datetime(2026, 11, 1, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ)


def day(d: int) -> datetime:
    return datetime(2026, 11, d, tzinfo=TZ)


def shifts(
    d: int, amounts: tuple[str, str, str], measures: str = "production", covered: float = 1.0
) -> list[MeterPeriod]:
    out = []
    for i, a in enumerate(amounts):
        s = day(d) + timedelta(hours=8 * i)
        out.append(MeterPeriod("gw/belt/total", measures, "raw" if measures == "production" else None, s,
                               s + timedelta(hours=8), Decimal(a), covered))
    return out


def prod(i: int, d: int, t: str, source: str = "manual"):  # type: ignore[no-untyped-def]
    return entry(i, "production", day(d) + timedelta(hours=10), source, product="raw", stockpile="y", tonnes=t)


def test_telemetry_mismatch_per_day() -> None:
    periods = shifts(3, ("0", "500", "500")) + shifts(4, ("0", "500", "500")) + shifts(5, ("0", "0", "0")) \
        + shifts(6, ("0", "500", "500"), covered=0.5)
    view = MemoryView([prod(1, 3, "1020"),  # +2 %: fine
                       prod(2, 4, "1020.001"),  # above 2 %
                       prod(3, 5, "10"),  # meter saw nothing
                       prod(4, 6, "5000")],  # meter covered half the day: not judged
                      periods=periods)
    found = TelemetryMismatch().scan(ENT, view, NOV, DEC)
    assert [(a.at, a.entries, a.figures["metered"]) for a in found] == [
        (day(4), [2], "1000.000"), (day(5), [3], "0.000")]
    monthly = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "coal_mine",
                                        "thresholds": {"telemetry_period": "month"}})
    # over a month only the covered shifts (3rd-5th) count: 2,050.001 t declared against 2,000 t
    [a] = TelemetryMismatch().scan(monthly, view, NOV, DEC)
    assert (a.figures["declared"], a.figures["metered"], a.entries, a.figures["hours_compared"]) == (
        "2050.001", "2000.000", [1, 2, 3], 72)
    monthly.threshold_overrides["telemetry_min_coverage"] = "0.5"
    [a] = TelemetryMismatch().scan(monthly, view, NOV, DEC)
    assert a.figures["declared"] == "7050.001" and a.figures["metered"] == "3000.000"


def test_telemetry_mismatch_compares_only_what_the_meter_covered() -> None:
    # the meter ran 08:00-16:00 only; the day-shift declaration is compared, pro rata by interval
    day_shift = [MeterPeriod("gw/belt/total", "production", "raw", day(3) + timedelta(hours=8),
                             day(3) + timedelta(hours=16), Decimal("800"), 1.0)]
    shift_entry = entry(1, "production", day(3) + timedelta(hours=16), product="raw", stockpile="y", tonnes="900",
                        shift="day")
    [a] = TelemetryMismatch().scan(ENT, MemoryView([shift_entry], periods=day_shift), NOV, DEC)
    assert (a.figures["declared"], a.figures["metered"], a.entries) == ("900.000", "800.000", [1])
    spanning = entry(2, "production", day(3) + timedelta(hours=12), product="raw", stockpile="y", tonnes="1600",
                     **{"from": (day(3) + timedelta(hours=8)).isoformat(),
                        "to": (day(3) + timedelta(hours=24)).isoformat()})
    assert TelemetryMismatch().scan(ENT, MemoryView([spanning], periods=day_shift), NOV, DEC) == []


def test_metered_enterprises_are_not_compared_with_their_own_entries() -> None:
    metered = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "coal_mine", "production_source": "metered"})
    view = MemoryView([prod(1, 3, "700", source="telemetry")], periods=shifts(3, ("0", "500", "500")))
    assert TelemetryMismatch().scan(metered, view, NOV, DEC) == []
    assert TelemetryMismatch().scan(ENT, MemoryView([prod(1, 3, "700")]), NOV, DEC) == []  # no meter at all


def test_energy_output_against_trailing_norm() -> None:
    periods: list[MeterPeriod] = []
    items = []
    for d in range(1, 11):  # 10 normal days: 1000 t for 10,000 kWh
        periods += shifts(d, ("3000", "3500", "3500"), measures="energy")
        items.append(prod(d, d, "1000"))
    periods += shifts(11, ("3000", "3500", "3500"), measures="energy")
    items.append(prod(11, 11, "1301"))  # +30.1 %
    periods += shifts(12, ("3000", "3500", "3500"), measures="energy")
    items.append(prod(12, 12, "1300"))  # +30 %: within
    found = EnergyOutputMismatch().scan(ENT, MemoryView(items, periods=periods), NOV, DEC)
    assert [(a.at, a.entries, a.figures["days_in_norm"]) for a in found] == [(day(11), [11], 10)]
    assert found[0].figures["norm_t_per_kwh"] == 0.1
    strict = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "coal_mine",
                                       "thresholds": {"energy_min_days": 11}})
    assert EnergyOutputMismatch().scan(strict, MemoryView(items, periods=periods), NOV, DEC) == []
