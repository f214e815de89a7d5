from datetime import datetime

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.rules.capacity import OverCapacityMonth, OverCapacityYear
from mine_ledger.rules.memory import MemoryView, entry
from mine_ledger.values import TZ

ENT = {"code": "E1", "name": "m", "kind": "coal_mine", "approved_capacity_tpa": "120000"}  # month limit 12,000 t
NOV, DEC, JAN27 = datetime(2026, 11, 1, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ)


def day(d: int, month: int = 11) -> datetime:
    return datetime(2026, month, d, 9, tzinfo=TZ)


def p(i: int, t: str, at: datetime, product: str = "raw"):  # type: ignore[no-untyped-def]
    return entry(i, "production", at, product=product, stockpile="y", tonnes=t)


def test_month_flags_the_entry_that_crosses_ten_percent() -> None:
    ent = EnterpriseInfo.from_data(ENT)
    view = MemoryView([p(1, "6000", day(1)), p(2, "6000", day(2)), p(3, "0.001", day(3)), p(4, "10", day(4)),
                       p(5, "99999", day(5), product="clean")])
    [a] = OverCapacityMonth().scan(ent, view, NOV, DEC)
    assert (a.code, a.severity, a.at, a.entries) == ("OVER_CAPACITY_MONTH", "warning", day(3), [3, 4])
    assert a.figures["production"] == "12010.001" and a.figures["limit"] == "12000.000"
    # exactly 10 % is not above it; a range that does not hold the crossing reports nothing
    assert OverCapacityMonth().scan(ent, MemoryView([p(1, "12000", day(1))]), NOV, DEC) == []
    assert OverCapacityMonth().scan(ent, view, day(4), DEC) == []


def test_month_share_is_configurable_and_capacity_optional() -> None:
    ent = EnterpriseInfo.from_data(ENT | {"thresholds": {"month_capacity_share": "0.05"}})
    assert len(OverCapacityMonth().scan(ent, MemoryView([p(1, "6001", day(1))]), NOV, DEC)) == 1
    no_cap = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "factory"})
    assert OverCapacityMonth().scan(no_cap, MemoryView([p(1, "1e6", day(1))]), NOV, DEC) == []


def test_year_warning_then_major() -> None:
    ent = EnterpriseInfo.from_data(ENT)
    items = [p(i, "10000", day(1, m)) for i, m in enumerate(range(1, 13), start=1)]  # 120,000 by December
    items.append(p(20, "12000.001", day(20, 12)))
    view = MemoryView(items)
    found = OverCapacityYear().scan(ent, view, datetime(2026, 1, 1, tzinfo=TZ), JAN27)
    assert [(a.severity, a.entries[0]) for a in found] == [("warning", 20), ("major", 20)]
    # a December-only scan still knows the year to date
    assert len(OverCapacityYear().scan(ent, view, DEC, JAN27)) == 2
    # and a scan after the crossing reports nothing new
    assert OverCapacityYear().scan(ent, view, datetime(2026, 12, 25, tzinfo=TZ), JAN27) == []


def test_capacity_change_mid_year_counts_pro_rata() -> None:
    ent = EnterpriseInfo.from_data(ENT | {"capacities": [{"tpa": "240000", "effective_from": "2026-07-02"}]})
    # 1 Jan - 1 Jul (182 days) at 120,000 and 183 days at 240,000
    cap = ent.capacity_over(datetime(2026, 1, 1, tzinfo=TZ), JAN27)
    assert cap is not None and round(cap) == round((182 * 120000 + 183 * 240000) / 365)
