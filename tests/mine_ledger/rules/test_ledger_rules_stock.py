from datetime import datetime
from decimal import Decimal

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.rules.memory import MemoryView, entry
from mine_ledger.rules.stock import NegativeStock, SalesExceedStock, StockMismatch
from mine_ledger.values import TZ

ENT = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "coal_mine"})
NOV, DEC = datetime(2026, 11, 1, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ)


def at(d: int, h: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, d, h, tzinfo=TZ)


def test_negative_stock_names_each_entry_that_goes_below_zero() -> None:
    view = MemoryView([
        entry(1, "production", at(1), product="raw", stockpile="y", tonnes="10"),
        entry(2, "shipment", at(2), product="raw", stockpile="y", net="8"),
        entry(3, "shipment", at(3), product="raw", stockpile="y", net="5"),
        entry(4, "own_use", at(4), product="raw", stockpile="y", tonnes="1"),
        entry(5, "production", at(5), product="raw", stockpile="y", tonnes="20"),
        entry(6, "transfer", at(6), product="raw", tonnes="1", **{"from": "other", "to": "y"}),
    ])
    found = NegativeStock().scan(ENT, view, NOV, DEC)
    assert [(a.entries, a.figures["after"]) for a in found] == [([3], "-3.000"), ([4], "-4.000"), ([6], "-1.000")]
    # a scan starting later takes the opening balance into account
    assert [a.entries for a in NegativeStock().scan(ENT, view, at(4, 0), DEC)] == [[4], [6]]


def test_stock_mismatch_tolerance_by_method() -> None:
    items = []

    def case(i: int, book: str, measured: str, method: str | None) -> None:
        pile = f"y{i}"
        if book != "0":
            items.append(entry(100 + i, "production", at(i, 1), product="raw", stockpile=pile, tonnes=book))
        variance = str(Decimal(measured) - Decimal(book))
        items.append(entry(i, "stocktake", at(i), product="raw", stockpile=pile, measured=measured, method=method,
                           book=book, variance=variance))

    case(1, "2000", "1975", "laser")  # 1.25 % > 1 % and > 10 t
    case(2, "2000", "1975", "drone")  # within 5 %
    case(3, "2000", "2061", None)  # 3.05 % > default 3 %
    case(4, "200", "209", "laser")  # 4.5 % but not more than 10 t
    case(5, "0", "11", "manual")  # nothing on the book
    view = MemoryView(items)
    found = StockMismatch().scan(ENT, view, NOV, DEC)
    assert [a.entries[0] for a in found] == [1, 3, 5]
    assert found[0].figures["tolerance"] == "0.01" and found[0].figures["variance"] == "-25.000"
    loose = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "coal_mine",
                                      "thresholds": {"stock_tolerance_laser": "0.02", "stock_mismatch_min_t": "5"}})
    assert [a.entries[0] for a in StockMismatch().scan(loose, view, NOV, DEC)] == [3, 4, 5]
    # the book as known now: a late production entry before survey 2 makes it 40 t short
    late = entry(200, "production", at(2, 2), product="raw", stockpile="y2", tonnes="15")
    assert [a.entries[0] for a in StockMismatch().scan(ENT, MemoryView([*items, late]), NOV, DEC)] == [1, 3, 5]
    later = entry(201, "production", at(2, 2), product="raw", stockpile="y2", tonnes="90")
    assert [a.entries[0] for a in StockMismatch().scan(ENT, MemoryView([*items, later]), NOV, DEC)] == [1, 2, 3, 5]


def test_sales_exceed_opening_plus_inflows() -> None:
    view = MemoryView([
        entry(1, "production", at(20, month=10), product="raw", stockpile="y", tonnes="100"),  # opening 100
        entry(2, "production", at(2), product="raw", stockpile="y", tonnes="50"),
        entry(3, "washing", at(3), inputs=[{"product": "raw", "stockpile": "y", "tonnes": "60"}],
              outputs=[{"product": "clean", "stockpile": "c", "tonnes": "50"}], loss="10"),
        entry(4, "sale", at(4), buyer="b", product="raw", tonnes="80"),
        entry(5, "sale", at(5), buyer="b", product="raw", tonnes="10.001"),  # 90.001 > 100 + 50 - 60
        entry(6, "sale", at(6), buyer="b", product="clean", tonnes="50"),  # exactly what was made
        entry(7, "sale", at(7), buyer="b", product="raw", tonnes="1"),
    ])
    [a] = SalesExceedStock().scan(ENT, view, NOV, DEC)
    assert a.entries == [5, 7] and a.at == at(5)
    assert a.figures["available"] == "90.000" and a.figures["sales"] == "91.001" and a.figures["washing_in"] == "60.000"
    daily = EnterpriseInfo.from_data({"code": "E1", "name": "m", "kind": "coal_mine",
                                      "thresholds": {"sales_period": "day"}})
    # per day: the sale on the 4th exceeds the 4th's opening (90) + that day's inflows? no: 80 <= 90
    assert [x.entries for x in SalesExceedStock().scan(daily, view, NOV, DEC)] == []
