from datetime import datetime
from decimal import Decimal

from mine_ledger.enterprise import EnterpriseInfo, Stop
from mine_ledger.rules.base import MeterDelta
from mine_ledger.rules.memory import MemoryView, entry
from mine_ledger.rules.timing import NightProduction, ProductionDuringStop
from mine_ledger.values import TZ

ENT = {"code": "E1", "name": "m", "kind": "coal_mine", "night_ban": ["00:00", "08:00"]}
NOV, DEC = datetime(2026, 11, 1, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ)


def at(d: int, h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, d, h, m, tzinfo=TZ)


def test_night_production_by_instant_shift_and_interval() -> None:
    ent = EnterpriseInfo.from_data(ENT)
    view = MemoryView([
        entry(1, "production", at(3, 3), product="raw", stockpile="y", tonnes="10"),  # instant inside
        entry(2, "production", at(3, 16), product="raw", stockpile="y", tonnes="10", shift="night"),  # night shift
        entry(3, "production", at(3, 12), product="raw", stockpile="y", tonnes="10", shift="day"),  # day shift: fine
        entry(4, "production", at(3, 9), product="raw", stockpile="y", tonnes="80",
              **{"from": at(3, 6).isoformat(), "to": at(3, 14).isoformat()}),  # 2 of 8 hours inside
        entry(5, "production", at(3, 8), product="raw", stockpile="y", tonnes="10"),  # 08:00 is outside [00, 08)
        entry(6, "production", at(3, 2), "telemetry", product="raw", stockpile="y", tonnes="10"),  # meter rule's job
    ])
    found = NightProduction().scan(ent, view, NOV, DEC)
    assert [a.entries for a in found] == [[1], [4], [2]]
    assert found[1].figures["tonnes_inside"] == "20.000" and found[1].figures["overlap_minutes"] == 120
    assert all(a.severity == "major" for a in found)
    assert NightProduction().scan(EnterpriseInfo.from_data(ENT | {"night_ban": None}), view, NOV, DEC) == []


def test_night_ban_across_midnight_and_metered_flow() -> None:
    ent = EnterpriseInfo.from_data(ENT | {"night_ban": ["22:00", "06:00"]})
    deltas = [
        MeterDelta("gw/belt/total", "production", "raw", at(4, 23, 0), at(4, 23, 30), Decimal("40")),
        MeterDelta("gw/belt/total", "production", "raw", at(5, 21, 0), at(5, 21, 59), Decimal("40")),
        MeterDelta("gw/belt/total", "production", "raw", at(6, 1, 0), at(6, 1, 1), Decimal("0.5")),  # drift
    ]
    found = NightProduction().scan(ent, MemoryView([], deltas=deltas), NOV, DEC)
    assert [(a.at, a.figures["metered_tonnes"]) for a in found] == [(at(4, 23), "40.000")]


def test_production_during_stop() -> None:
    ent = EnterpriseInfo.from_data(ENT | {"night_ban": None})
    ent.stops = [Stop(7, at(10, 0), at(12, 0), "整改")]
    view = MemoryView([
        entry(1, "production", at(9, 20), product="raw", stockpile="y", tonnes="5", shift="evening"),  # ends 24:00
        entry(2, "production", at(10, 9), product="raw", stockpile="y", tonnes="5", shift="day"),
        entry(3, "production", at(12, 0), product="raw", stockpile="y", tonnes="5"),
    ], deltas=[MeterDelta("m", "production", "raw", at(11, 10), at(11, 11), Decimal("30"))])
    found = ProductionDuringStop().scan(ent, view, NOV, DEC)
    assert [(a.entries, a.at) for a in found] == [([2], at(10, 9)), ([], at(11, 10))]
    assert "stop 7" in found[0].detail and found[1].figures["metered_tonnes"] == "30.000"
