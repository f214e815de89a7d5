from datetime import datetime, timedelta

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.rules.memory import MemoryView, entry
from mine_ledger.rules.weighing import DuplicateWeighing, ReceiptUnmatched, ShipmentUnweighed, TareDeviation
from mine_ledger.values import TZ

ENT = EnterpriseInfo.from_data({"code": "W1", "name": "洗煤厂", "kind": "washing_plant"})
NOV, DEC = datetime(2026, 11, 1, tzinfo=TZ), datetime(2026, 12, 1, tzinfo=TZ)


def at(d: int, h: int = 9, m: int = 0) -> datetime:
    return datetime(2026, 11, d, h, m, tzinfo=TZ)


def ship(i: int, when: datetime, vehicle: str = "V1", tare: str | None = "15", ticket: str | None = "T",
         gross: str | None = "50", out: datetime | None = None):  # type: ignore[no-untyped-def]
    return entry(i, "shipment", when, product="raw", stockpile="y", vehicle=vehicle, ticket=ticket and f"{ticket}{i}",
                 gross=gross, tare=tare, net="35", weighed_out=(out or when).isoformat())


def test_unweighed() -> None:
    view = MemoryView([ship(1, at(1)), ship(2, at(2), ticket=None), ship(3, at(3), gross=None, tare=None)])
    found = ShipmentUnweighed().scan(ENT, view, NOV, DEC)
    assert [(a.entries, a.figures["missing"], a.severity) for a in found] == [
        ([2], ["ticket"], "major"), ([3], ["gross", "tare"], "major")]


def test_tare_deviation_needs_three_earlier_weighings() -> None:
    items = [ship(1, at(1), tare="15.0"), ship(2, at(2), tare="15.2"), ship(3, at(3), tare="16.1", vehicle="V1"),
             ship(4, at(4), tare="14.0"),  # median 15.2 of 3: deviation 1.2 t = 7.9 %
             ship(5, at(5), tare="15.6"),  # 0.4 t: under 0.5 t
             ship(6, at(6), tare="18.0", vehicle="V2"), ship(7, at(7), tare="12.0", vehicle="V2")]  # too little history
    found = TareDeviation().scan(ENT, MemoryView(items), NOV, DEC)
    assert [(a.entries, a.figures["median_tare"], a.figures["weighings"]) for a in found] == [([4], "15.200", 3)]
    # history before the scanned range counts
    assert [a.entries for a in TareDeviation().scan(ENT, MemoryView(items), at(4), DEC)] == [[4]]
    # receipts weighed on the same bridge count as history too
    rc = entry(8, "receipt", at(8), product="raw", stockpile="y", supplier="x", vehicle="V2", tare="15", tonnes="1")
    assert TareDeviation().scan(ENT, MemoryView([*items, rc]), NOV, DEC)[0].entries == [4]


def test_duplicate_weighing_within_ten_minutes() -> None:
    items = [ship(1, at(1, 9, 0)), ship(2, at(1, 9, 10)), ship(3, at(1, 9, 21)), ship(4, at(1, 9, 25), vehicle="V2")]
    found = DuplicateWeighing().scan(ENT, MemoryView(items), NOV, DEC)
    assert [(a.entries, a.figures["seconds_apart"]) for a in found] == [([1, 2], 600)]
    tight = EnterpriseInfo.from_data({"code": "W1", "name": "w", "kind": "washing_plant",
                                      "thresholds": {"duplicate_window_s": 300}})
    assert DuplicateWeighing().scan(tight, MemoryView(items), NOV, DEC) == []
    # the earlier weighing may lie before the scanned range
    assert [a.entries for a in DuplicateWeighing().scan(ENT, MemoryView(items), at(1, 9, 5), DEC)] == [[1, 2]]


def test_receipt_matched_against_the_suppliers_shipment() -> None:
    mine_ships = [entry(100, "shipment", at(1, 8), product="raw", stockpile="y", ticket="K1", net="40.000"),
                  entry(101, "shipment", at(1, 8), product="raw", stockpile="y", ticket="K2", net="40.000")]

    def rc(i: int, ticket: str | None, net: str, supplier: str = "E1"):  # type: ignore[no-untyped-def]
        return entry(i, "receipt", at(1, 10), product="raw", stockpile="y", supplier=supplier, ticket=ticket,
                     tonnes=net, net=net)

    view = MemoryView([rc(1, "K1", "40.200"),  # 0.5 % exactly: matches
                       rc(2, "K2", "40.201"),  # just over 0.5 %
                       rc(3, "K9", "40.000"),  # no such ticket
                       rc(4, None, "40.000"),  # no ticket
                       rc(5, None, "40.000", supplier="外部供应商")],  # not on the platform: not judged
                      partners={"E1": mine_ships})
    found = ReceiptUnmatched().scan(ENT, view, NOV, DEC)
    assert [(a.entries, a.figures["reason"]) for a in found] == [
        ([2], "shipped net 40.000 t differs by more than 0.5 %"),
        ([3], "no shipment with this ticket"),
        ([4], "no ticket"),
    ]
    assert timedelta(0) == found[0].at - at(1, 10)
