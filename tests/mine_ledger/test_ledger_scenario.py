"""November 2026 at a coal mine and the washing plant it supplies, with balances worked out by hand.

Mine (approved 1,200,000 t/a: a month may hold 120,000 t; night ban 00:00-08:00; default shifts):
- 31 Oct 20:00: 5,000 t raw (the opening stock of November).
- every day of November: 2,000 t in the day shift (entry at 15:00) and 2,000 t in the evening shift
  (23:00) = 120,000 t, plus 500 t declared in the night shift of the 20th: 120,500 t.
- a 9,999 t production typed by mistake on the 12th, reversed.
- washings on the 7th, 14th, 21st, 28th: 10,000 t raw -> 7,000 clean + 1,500 middlings + 1,400 gangue + 100 loss.
- clean coal shipments (35 t net): truck L10001 on the 8th-11th (tares 15.0, 15.2, 15.1, then 13.0),
  truck L10002 twice on the 12th eight minutes apart, one unweighed 30 t load on the 13th.
- raw coal to the washing plant: tickets K1 (10th) and K2 (11th), 40 t each.
- sales of clean coal: 5,000 t on the 15th, 30,000 t on the 29th (only 28,000 t were ever made).
- 6,000 t gangue used on site on the 22nd (the yard holds 4,200 t then).
- declared stop on the 25th, production declared anyway.
- laser stocktake of raw_yard on the 30th at 12:00: book 81,420 t, measured 79,420 t.

Raw closing = 5,000 + 120,500 - 40,000 washed - 80 shipped - 2,000 variance = 83,420 t;
clean 28,000 - 240 shipped = 27,760 t; middlings 6,000 t; gangue 5,600 - 6,000 = -400 t.
"""

from typing import Any

import pytest

from mine_ledger import Ledger, ValidationError

MINE = {"code": "E150302001", "name": "骆驼山煤矿", "kind": "coal_mine", "district": "海南区",
        "approved_capacity_tpa": "1200000", "night_ban": ["00:00", "08:00"]}
PLANT = {"code": "W150304001", "name": "乌达洗煤厂", "kind": "washing_plant", "district": "乌达区"}


def nov(day: int, hm: str = "10:00") -> str:
    return f"2026-11-{day:02d}T{hm}"


def prod(tonnes: str, at: str, shift: str | None = None) -> dict[str, Any]:
    return {"kind": "production", "product": "raw", "stockpile": "raw_yard", "tonnes": tonnes, "at": at, "shift": shift}


def ship(product: str, at: str, vehicle: str, ticket: str | None, tare: str | None, net: str = "35.000",
         destination: str = "包钢") -> dict[str, Any]:
    gross = f"{float(tare) + float(net):.3f}" if tare is not None else None
    return {"kind": "shipment", "product": product, "stockpile": f"{product}_yard", "at": at, "ticket": ticket,
            "vehicle": vehicle, "gross": gross, "tare": tare, "net": net, "weighed_out": at,
            "destination": destination}


def washing(day: int) -> dict[str, Any]:
    return {"kind": "washing", "at": nov(day), "loss": "100",
            "inputs": [{"product": "raw", "stockpile": "raw_yard", "tonnes": "10000"}],
            "outputs": [{"product": "clean", "stockpile": "clean_yard", "tonnes": "7000"},
                        {"product": "middlings", "stockpile": "middlings_yard", "tonnes": "1500"},
                        {"product": "gangue", "stockpile": "gangue_yard", "tonnes": "1400"}]}


def mine_entries() -> dict[str, dict[str, Any]]:
    e: dict[str, dict[str, Any]] = {"opening": prod("5000", "2026-10-31T20:00", "evening")}
    for d in range(1, 31):
        e[f"day{d}"] = prod("2000", nov(d, "15:00"), "day")
        e[f"evening{d}"] = prod("2000", nov(d, "23:00"), "evening")
    e["night20"] = prod("500", nov(20, "07:00"), "night")
    e["typo"] = prod("9999", nov(12, "11:00"))
    for d in (7, 14, 21, 28):
        e[f"wash{d}"] = washing(d)
    for d, tare in zip((8, 9, 10, 11), ("15.000", "15.200", "15.100", "13.000"), strict=True):
        e[f"l1_{d}"] = ship("clean", nov(d), "蒙L10001", f"C{d}", tare)
    e["l2_a"] = ship("clean", nov(12, "10:00"), "蒙L10002", "C12a", "16.000")
    e["l2_b"] = ship("clean", nov(12, "10:08"), "蒙L10002", "C12b", "16.000")
    e["unweighed"] = ship("clean", nov(13), "蒙L10003", None, None, net="30.000")
    e["k1"] = ship("raw", nov(10, "08:00"), "蒙L20001", "K1", "15.000", net="40.000", destination=PLANT["code"])
    e["k2"] = ship("raw", nov(11, "08:00"), "蒙L20001", "K2", "15.000", net="40.000", destination=PLANT["code"])
    e["sale15"] = {"kind": "sale", "buyer": "包钢", "product": "clean", "tonnes": "5000", "unit_price": "1500.00",
                   "at": nov(15), "tickets": ["C8", "C9"]}
    e["sale29"] = {"kind": "sale", "buyer": "包钢", "product": "clean", "tonnes": "30000", "unit_price": "1480.00",
                   "at": nov(29)}
    e["gangue_use"] = {"kind": "own_use", "product": "gangue", "stockpile": "gangue_yard", "tonnes": "6000",
                       "at": nov(22), "purpose": "回填"}
    e["stocktake"] = {"kind": "stocktake", "product": "raw", "stockpile": "raw_yard", "measured": "79420",
                      "method": "laser", "at": nov(30, "12:00")}
    return e


@pytest.fixture
def scenario(ledger: Ledger) -> dict[str, int]:
    ledger.create_enterprise(MINE)
    ledger.create_enterprise(PLANT)
    ledger.add_stop(MINE["code"], {"from": nov(25, "00:00"), "to": nov(26, "00:00"), "reason": "安全整改"})
    entries = mine_entries()
    stored = ledger.append_many(MINE["code"], list(entries.values()), author="统计员")
    ids = {k: int(s["id"]) for k, s in zip(entries, stored, strict=True)}
    ids["reversal"] = ledger.append(MINE["code"], {"kind": "reversal", "reverses": ids["typo"], "reason": "录入错误",
                                                   "at": nov(12, "12:00")})["id"]
    receipts = ledger.append_many(PLANT["code"], [
        {"kind": "receipt", "product": "raw", "stockpile": "raw_yard", "supplier": MINE["code"], "ticket": t,
         "vehicle": "蒙L20001", "net": net, "at": nov(d, "09:30")}
        for t, net, d in (("K1", "40.100", 10), ("K2", "38.000", 11), ("K3", "40.000", 12))
    ])
    ids.update({f"r{i}": int(r["id"]) for i, r in enumerate(receipts, start=1)})
    return ids


def test_november_balances(ledger: Ledger, scenario: dict[str, int]) -> None:
    code = MINE["code"]
    s = ledger.summary(code, "2026-11")
    assert s["production"] == "120500.000"
    assert s["opening"] == {"clean": "0.000", "gangue": "0.000", "middlings": "0.000", "raw": "5000.000"}
    assert s["closing"] == {"clean": "27760.000", "gangue": "-400.000", "middlings": "6000.000", "raw": "83420.000"}
    assert s["washing_in"]["raw"] == "40000.000"
    assert (s["washing_out"]["clean"], s["washing_out"]["middlings"], s["washing_out"]["gangue"]) == (
        "28000.000", "6000.000", "5600.000")
    assert (s["shipments"]["raw"], s["shipments"]["clean"]) == ("80.000", "240.000")
    assert s["sales"]["clean"] == "35000.000" and s["own_use"]["gangue"] == "6000.000"
    assert s["stocktake_variance"]["raw"] == "-2000.000"
    assert s["capacity_use"] == pytest.approx(120500 / 1200000, abs=1e-6)
    # recorded before the typo was reversed: the stored book still held it; the survey's figure holds
    assert ledger.get_entry(code, scenario["stocktake"])["book"] == "91419.000"
    assert ledger.balance(code, "2026-11-30T12:00:00.000001")[-1] == {
        "product": "raw", "stockpile": "raw_yard", "tonnes": "79420.000"}
    mid = {(r["product"], r["stockpile"]): r["tonnes"] for r in ledger.balance(code, "2026-11-15T00:00")}
    assert mid == {("raw", "raw_yard"): "40920.000", ("clean", "clean_yard"): "13760.000",
                   ("middlings", "middlings_yard"): "3000.000", ("gangue", "gangue_yard"): "2800.000"}
    assert ledger.summary(code, "2026-11-2旬")["production"] == "40500.000"
    assert ledger.summary(code, "2026-11-20/night")["production"] == "500.000"
    assert ledger.summary(code, "2026")["closing"] == s["closing"]
    assert ledger.summary(PLANT["code"], "2026-11")["closing"] == {"raw": "118.100"}


def test_november_anomalies(ledger: Ledger, scenario: dict[str, int]) -> None:
    ids = scenario
    found = ledger.anomalies(MINE["code"], "2026-11-01", "2026-12-01")
    got = sorted((a["code"], tuple(a["entries"])) for a in found)
    expected = sorted([
        ("OVER_CAPACITY_MONTH", (ids["evening30"],)),
        ("NIGHT_PRODUCTION", (ids["night20"],)),
        ("PRODUCTION_DURING_STOP", (ids["day25"],)),
        ("PRODUCTION_DURING_STOP", (ids["evening25"],)),
        ("NEGATIVE_STOCK", (ids["gangue_use"],)),
        ("STOCK_MISMATCH", (ids["stocktake"],)),
        ("SALES_EXCEED_STOCK", (ids["sale29"],)),
        ("SHIPMENT_UNWEIGHED", (ids["unweighed"],)),
        ("TARE_DEVIATION", (ids["l1_11"],)),
        ("DUPLICATE_WEIGHING", (ids["l2_a"], ids["l2_b"])),
    ])
    assert got == expected
    by_code = {a["code"]: a for a in found}
    assert by_code["OVER_CAPACITY_MONTH"]["figures"]["production"] == "120500.000"
    assert by_code["SALES_EXCEED_STOCK"]["figures"]["available"] == "28000.000"
    assert by_code["STOCK_MISMATCH"]["figures"]["variance"] == "-2000.000"
    assert by_code["NEGATIVE_STOCK"]["figures"]["after"] == "-1800.000"
    assert by_code["TARE_DEVIATION"]["figures"]["median_tare"] == "15.100"
    assert all(a["severity"] in ("warning", "major") for a in found)
    # the same anomalies, one half-month at a time
    halves = ledger.anomalies(MINE["code"], "2026-11-01", "2026-11-16") + ledger.anomalies(
        MINE["code"], "2026-11-16", "2026-12-01")
    assert sorted((a["code"], tuple(a["entries"])) for a in halves) == expected
    plant = ledger.anomalies(PLANT["code"], "2026-11-01", "2026-12-01")
    assert [(a["code"], a["entries"]) for a in plant] == [("RECEIPT_UNMATCHED", [ids["r2"]]),
                                                          ("RECEIPT_UNMATCHED", [ids["r3"]])]


def test_november_close_and_verify(ledger: Ledger, scenario: dict[str, int]) -> None:
    code = MINE["code"]
    heads = ledger.export_heads()
    closed = ledger.close_month(code, "2026-11", author="财务")
    assert {(c["product"], c["tonnes"]) for c in closed["closing"]} == {
        ("raw", "83420.000"), ("clean", "27760.000"), ("middlings", "6000.000"), ("gangue", "-400.000")}
    with pytest.raises(ValidationError):
        ledger.append(code, prod("1", nov(30, "23:59")))
    assert ledger.verify(code, against=heads)["ok"] and ledger.verify(PLANT["code"], against=heads)["ok"]
    assert ledger.verify(code)["entries"] == len(mine_entries()) + 1
