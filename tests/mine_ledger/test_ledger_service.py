"""The Ledger facade on SQLite and PostgreSQL: enterprises, entries, balances, summaries, 月结."""

from typing import Any

import pytest

from mine_ledger import Conflict, Ledger, NotFound, ValidationError

from .conftest import ENTERPRISE


def prod(tonnes: str, at: str, **kw: Any) -> dict[str, Any]:
    return {"kind": "production", "product": "raw", "stockpile": "raw_yard", "tonnes": tonnes, "at": at, **kw}


def ship(net: str, at: str, ticket: str | None = "T", vehicle: str = "蒙L0001", **kw: Any) -> dict[str, Any]:
    gross = str(float(net) + 15) if ticket else None
    return {"kind": "shipment", "product": "raw", "stockpile": "raw_yard", "at": at, "ticket": ticket,
            "vehicle": vehicle, "gross": gross, "tare": "15.000" if ticket else None, "net": net, **kw}


def bal(ledger: Ledger, code: str, at: str | None = None) -> dict[tuple[str, str], str]:
    return {(r["product"], r["stockpile"]): r["tonnes"] for r in ledger.balance(code, at)}


def test_enterprises(ledger: Ledger, mine: str) -> None:
    e = ledger.get_enterprise(mine)
    assert e["kind"] == "coal_mine" and e["approved_capacity_tpa"] == "1200000.000"
    assert e["production_source"] == "declared" and [s["name"] for s in e["shifts"]] == ["night", "day", "evening"]
    with pytest.raises(Conflict):
        ledger.create_enterprise(ENTERPRISE)
    with pytest.raises(NotFound):
        ledger.get_enterprise("NOPE")
    with pytest.raises(ValidationError) as err:
        ledger.create_enterprise({"code": "E2", "name": "x", "kind": "bakery"})
    assert err.value.field == "kind"
    ledger.create_enterprise({"code": "W1", "name": "洗煤厂", "kind": "washing_plant", "district": "乌达区",
                              "night_ban": ["22:00", "06:00"], "thresholds": {"tare_share": "0.08"}})
    assert [x["code"] for x in ledger.list_enterprises()] == ["E150302001", "W1"]
    assert [x["code"] for x in ledger.list_enterprises(district="乌达区")] == ["W1"]
    assert [x["code"] for x in ledger.list_enterprises(limit=1, offset=1)] == ["W1"]
    w = ledger.update_enterprise("W1", {"production_source": "metered", "thresholds": {"tare_share": "0.06"}})
    assert w["production_source"] == "metered" and w["thresholds"]["tare_share"] == "0.06"
    assert w["night_ban"] == ["22:00", "06:00"]
    with pytest.raises(ValidationError):
        ledger.update_enterprise("W1", {"code": "W2"})
    with pytest.raises(ValidationError):
        ledger.create_enterprise({"code": "E3", "name": "x", "kind": "coal_mine", "thresholds": {"bogus": 1}})
    ledger.set_capacity(mine, "1500000", "2026-07-01")
    caps = ledger.get_enterprise(mine)["capacities"]
    assert caps == [{"tpa": "1200000.000", "effective_from": None},
                    {"tpa": "1500000.000", "effective_from": "2026-07-01"}]


def test_append_get_list(ledger: Ledger, mine: str) -> None:
    a = ledger.append(mine, prod("1250.500", "2026-11-03T15:00", shift="day"), author="alice")
    assert a["id"] and len(a["hash"]) == 64 and a["seq"] == 1 and a["author"] == "alice"
    assert a["tonnes"] == "1250.500" and a["at"] == "2026-11-03T15:00:00+08:00" and a["flags"] == []
    b = ledger.append(mine, ship("35.000", "2026-11-03T17:00"))
    assert b["prev_hash"] == a["hash"] and b["seq"] == 2
    got = ledger.get_entry(mine, a["id"])
    assert got["hash"] == a["hash"] and got["reversed_by"] is None
    assert [e["id"] for e in ledger.list_entries(mine)] == [a["id"], b["id"]]
    assert [e["id"] for e in ledger.list_entries(mine, kind="shipment")] == [b["id"]]
    assert [e["id"] for e in ledger.list_entries(mine, from_="2026-11-03T16:00")] == [b["id"]]
    assert [e["id"] for e in ledger.list_entries(mine, to="2026-11-03T17:00")] == [a["id"]]
    assert [e["id"] for e in ledger.list_entries(mine, limit=1, offset=1)] == [b["id"]]
    with pytest.raises(NotFound):
        ledger.get_entry(mine, 99999)
    with pytest.raises(NotFound):
        ledger.append("NOPE", prod("1", "2026-11-03"))


def test_refused_entries_change_nothing(ledger: Ledger, mine: str) -> None:
    ledger.append(mine, prod("100", "2026-11-03T09:00"))
    before = (ledger.list_entries(mine), ledger.balance(mine))
    bad = [
        ship("35.000", "2026-11-03T10:00") | {"net": "30.000"},
        {"kind": "washing", "at": "2026-11-03T11:00", "loss": "1",
         "inputs": [{"product": "raw", "stockpile": "raw_yard", "tonnes": "50"}],
         "outputs": [{"product": "clean", "stockpile": "c", "tonnes": "45"}]},
        {"kind": "reversal", "reverses": 424242, "reason": "x"},
        prod("1", "2026-11-03T12:00") | {"product": "coke"},
    ]
    for entry in bad:
        with pytest.raises(ValidationError):
            ledger.append(mine, entry)
    with pytest.raises(ValidationError) as err:
        ledger.append_many(mine, [prod("5", "2026-11-04T09:00"), *bad])
    assert [e["index"] for e in err.value.errors] == [1, 2, 3, 4]
    assert (ledger.list_entries(mine), ledger.balance(mine)) == before
    assert ledger.verify(mine)["ok"]


def test_negative_stock_is_recorded_and_flagged(ledger: Ledger, mine: str) -> None:
    ledger.append(mine, prod("10", "2026-11-03T09:00"))
    s = ledger.append(mine, ship("25.000", "2026-11-03T10:00"))
    assert "NEGATIVE_STOCK" in s["flags"]
    assert bal(ledger, mine) == {("raw", "raw_yard"): "-15.000"}
    # a back-dated shipment, before the production
    early = ledger.append(mine, ship("1.000", "2026-11-02T10:00", ticket="T9", vehicle="X"))
    assert early["flags"] == ["NEGATIVE_STOCK"]
    codes = [(a["code"], a["entries"]) for a in ledger.anomalies(mine, "2026-11-01", "2026-12-01")]
    assert ("NEGATIVE_STOCK", [s["id"]]) in codes and ("NEGATIVE_STOCK", [early["id"]]) in codes


def test_balance_at_instants(ledger: Ledger, mine: str) -> None:
    ledger.append_many(mine, [
        prod("100", "2026-10-31T20:00"),
        prod("200", "2026-11-03T09:00"),
        ship("30.000", "2026-11-03T12:00"),
        {"kind": "transfer", "product": "raw", "from": "raw_yard", "to": "silo", "tonnes": "50",
         "at": "2026-11-15T08:00"},
        {"kind": "own_use", "product": "raw", "stockpile": "silo", "tonnes": "5", "at": "2026-12-01T00:00"},
    ])
    assert bal(ledger, mine, "2026-10-31T20:00") == {}
    assert bal(ledger, mine, "2026-10-31T20:00:00.000001") == {("raw", "raw_yard"): "100.000"}
    assert bal(ledger, mine, "2026-11-03T12:00") == {("raw", "raw_yard"): "300.000"}
    assert bal(ledger, mine, "2026-11-03T12:30+08:00") == {("raw", "raw_yard"): "270.000"}
    assert bal(ledger, mine, "2026-12-01T00:00") == {("raw", "raw_yard"): "220.000", ("raw", "silo"): "50.000"}
    assert bal(ledger, mine) == {("raw", "raw_yard"): "220.000", ("raw", "silo"): "45.000"}
    with pytest.raises(ValidationError):
        ledger.balance(mine, "yesterday")


def test_summary_periods(ledger: Ledger, mine: str) -> None:
    ledger.append_many(mine, [
        prod("100", "2026-10-31T20:00"),
        prod("1000", "2026-11-03T09:00", shift="day"),
        prod("500", "2026-11-12T17:00", shift="evening"),
        {"kind": "washing", "at": "2026-11-13T10:00", "loss": "10",
         "inputs": [{"product": "raw", "stockpile": "raw_yard", "tonnes": "800"}],
         "outputs": [{"product": "clean", "stockpile": "clean_yard", "tonnes": "600"},
                     {"product": "gangue", "stockpile": "gangue_yard", "tonnes": "190"}]},
        {"kind": "shipment", "product": "clean", "stockpile": "clean_yard", "at": "2026-11-20T10:00", "ticket": "C1",
         "vehicle": "V1", "gross": "45", "tare": "15", "net": "30"},
        {"kind": "sale", "buyer": "钢厂", "product": "clean", "tonnes": "30", "unit_price": "1500",
         "at": "2026-11-20T11:00", "tickets": ["C1"]},
        {"kind": "receipt", "product": "raw", "stockpile": "raw_yard", "tonnes": "40", "supplier": "外部",
         "at": "2026-11-21"},
        {"kind": "own_use", "product": "raw", "stockpile": "raw_yard", "tonnes": "2", "at": "2026-11-25"},
        {"kind": "stocktake", "product": "gangue", "stockpile": "gangue_yard", "measured": "180", "method": "drone",
         "at": "2026-11-28"},
    ])
    m = ledger.summary(mine, "2026-11")
    assert m["from"] == "2026-11-01T00:00:00+08:00" and m["to"] == "2026-12-01T00:00:00+08:00"
    assert m["production"] == "1500.000"
    assert m["opening"] == {"clean": "0.000", "gangue": "0.000", "raw": "100.000"}
    assert m["washing_in"]["raw"] == "800.000" and m["washing_out"]["clean"] == "600.000"
    assert m["shipments"]["clean"] == "30.000" and m["sales"]["clean"] == "30.000" and m["receipts"]["raw"] == "40.000"
    assert m["own_use"]["raw"] == "2.000" and m["stocktake_variance"]["gangue"] == "-10.000"
    # closing = opening + production + receipts + washing out - washing in - shipments - own use + variance
    assert m["closing"] == {"raw": "838.000", "clean": "570.000", "gangue": "180.000"}
    assert m["capacity_use"] == pytest.approx(1500 / 1200000, rel=1e-4)
    assert ledger.summary(mine, "2026-11-2旬")["production"] == "500.000"
    assert ledger.summary(mine, "2026-11-1旬")["production"] == "1000.000"
    day = ledger.summary(mine, "2026-11-03")
    assert day["production"] == "1000.000" and day["opening"]["raw"] == "100.000"
    assert ledger.summary(mine, "2026-11-03/day")["production"] == "1000.000"
    assert ledger.summary(mine, "2026-11-03/evening")["production"] == "0.000"
    y = ledger.summary(mine, "2026")
    assert y["production"] == "1600.000" and y["opening"] == {"clean": "0.000", "gangue": "0.000", "raw": "0.000"}
    assert y["closing"] == m["closing"]
    with pytest.raises(ValidationError):
        ledger.summary(mine, "November")


def test_reversal(ledger: Ledger, mine: str) -> None:
    a = ledger.append(mine, prod("100", "2026-11-03T09:00"))
    b = ledger.append(mine, prod("7", "2026-11-04T09:00"))
    r = ledger.append(mine, {"kind": "reversal", "reverses": a["id"], "reason": "entered twice"})
    assert r["reverses"] == a["id"] and r["reverses_hash"] == a["hash"]
    assert ledger.get_entry(mine, a["id"])["reversed_by"] == r["id"]
    assert bal(ledger, mine) == {("raw", "raw_yard"): "7.000"}
    assert ledger.summary(mine, "2026-11")["production"] == "7.000"
    assert bal(ledger, mine, "2026-11-04") == {("raw", "raw_yard"): "0.000"}
    for target, why in ((a["id"], "already reversed"), (r["id"], "itself a reversal")):
        with pytest.raises(ValidationError, match=why):
            ledger.append(mine, {"kind": "reversal", "reverses": target, "reason": "again"})
    other = ledger.create_enterprise(ENTERPRISE | {"code": "E2"})["code"]
    with pytest.raises(ValidationError, match="does not exist"):
        ledger.append(other, {"kind": "reversal", "reverses": b["id"], "reason": "not yours"})
    assert ledger.verify(mine)["ok"]


def test_sale_tickets_belong_to_one_sale(ledger: Ledger, mine: str) -> None:
    sale = {"kind": "sale", "buyer": "B", "product": "raw", "tonnes": "10", "unit_price": "500", "at": "2026-11-05"}
    s1 = ledger.append(mine, sale | {"tickets": ["T1", "T2"]})
    with pytest.raises(ValidationError, match="T2"):
        ledger.append(mine, sale | {"tickets": ["T3", "T2"]})
    ledger.append(mine, {"kind": "reversal", "reverses": s1["id"], "reason": "wrong buyer"})
    ledger.append(mine, sale | {"tickets": ["T2"]})  # free again once the first sale is reversed


def test_month_close(ledger: Ledger, mine: str) -> None:
    a = ledger.append(mine, prod("100", "2026-10-30T09:00"))
    c = ledger.close_month(mine, "2026-10", author="boss")
    assert c["month"] == "2026-10" and c["entries"] == 1 and c["closing"] == [
        {"product": "raw", "stockpile": "raw_yard", "tonnes": "100.000"}]
    with pytest.raises(ValidationError, match="closed"):
        ledger.append(mine, prod("1", "2026-10-31T23:59:59"))
    with pytest.raises(ValidationError, match="closed"):
        ledger.append(mine, {"kind": "reversal", "reverses": a["id"], "reason": "too late"})
    ledger.append(mine, prod("1", "2026-11-01T00:00"))
    with pytest.raises(Conflict):
        ledger.close_month(mine, "2026-10")
    with pytest.raises(Conflict):
        ledger.close_month(mine, "2026-09")
    with pytest.raises(ValidationError):
        ledger.close_month(mine, "2026-10-01")
    assert [x["month"] for x in ledger.list_closes(mine)] == ["2026-10"]
    assert ledger.get_enterprise(mine)["closed_until"] == "2026-11-01T00:00:00+08:00"


def test_stops(ledger: Ledger, mine: str) -> None:
    s = ledger.add_stop(mine, {"from": "2026-11-10T00:00", "to": "2026-11-12T00:00", "reason": "整改"})
    assert s["from"] == "2026-11-10T00:00:00+08:00"
    assert ledger.list_stops(mine)[0]["reason"] == "整改"
    e = ledger.append(mine, prod("50", "2026-11-10T12:00", shift="day"))
    assert e["flags"] == ["PRODUCTION_DURING_STOP"]
    with pytest.raises(ValidationError):
        ledger.add_stop(mine, {"from": "2026-11-12", "to": "2026-11-10"})


def test_stocktake_pins_the_stock_against_late_entries(ledger: Ledger, mine: str) -> None:
    ledger.append(mine, prod("100", "2026-11-03T09:00"))
    st = ledger.append(mine, {"kind": "stocktake", "product": "raw", "stockpile": "raw_yard", "measured": "90",
                              "method": "manual", "at": "2026-11-05T12:00"})
    assert (st["book"], st["variance"], st["flags"]) == ("100.000", "-10.000", [])
    ledger.append(mine, prod("5", "2026-11-06T09:00"))
    late = ledger.append(mine, prod("20", "2026-11-04T09:00"))  # recorded late, dated before the survey
    assert bal(ledger, mine, "2026-11-05T12:00") == {("raw", "raw_yard"): "120.000"}
    assert bal(ledger, mine, "2026-11-05T12:01") == {("raw", "raw_yard"): "90.000"}  # still what was measured
    assert bal(ledger, mine) == {("raw", "raw_yard"): "95.000"}
    assert ledger.summary(mine, "2026-11")["stocktake_variance"]["raw"] == "-30.000"
    [a] = [a for a in ledger.anomalies(mine, "2026-11-01", "2026-12-01") if a["code"] == "STOCK_MISMATCH"]
    assert a["figures"]["book"] == "120.000" and a["figures"]["variance"] == "-30.000"
    ledger.append(mine, {"kind": "reversal", "reverses": late["id"], "reason": "duplicate"})
    assert bal(ledger, mine) == {("raw", "raw_yard"): "95.000"}
    with pytest.raises(ValidationError, match="already has a stocktake"):
        ledger.append(mine, {"kind": "stocktake", "product": "raw", "stockpile": "raw_yard", "measured": "1",
                             "at": "2026-11-05T12:00"})
    # reversing the survey un-pins the stock: the book counts again
    ledger.append(mine, {"kind": "reversal", "reverses": st["id"], "reason": "survey was wrong"})
    assert bal(ledger, mine) == {("raw", "raw_yard"): "105.000"}
    assert ledger.verify(mine)["ok"]
