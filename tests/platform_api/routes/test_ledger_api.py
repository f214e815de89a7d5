"""The ledger through the API: shapes of §7 and the ledger's refusals mapped to 4xx."""

from __future__ import annotations

import uuid

from tests.platform_api.routes.conftest import Api, enterprise_body


def new_enterprise(api: Api, **over: object) -> str:
    code = "L" + uuid.uuid4().hex[:8].upper()
    r = api.post("admin", "/api/v1/enterprises", json=enterprise_body(code, "海南区", **over))
    assert r.status_code == 201, r.text
    return code


def test_entries_balance_summary_verify(api: Api) -> None:
    code = new_enterprise(api)
    base = f"/api/v1/enterprises/{code}"
    adm = "admin"
    entries = [
        {"kind": "production", "product": "raw", "stockpile": "raw_yard", "tonnes": "1250.500",
         "at": "2026-11-03T10:00", "shift": "day"},
        {"kind": "washing", "at": "2026-11-04T10:00", "inputs": [{"product": "raw", "stockpile": "raw_yard",
         "tonnes": "1000.000"}], "outputs": [{"product": "clean", "stockpile": "clean_yard", "tonnes": "700.000"},
         {"product": "gangue", "stockpile": "waste", "tonnes": "288.000"}], "loss": "12.000"},
        {"kind": "shipment", "product": "clean", "stockpile": "clean_yard", "at": "2026-11-05T10:00",
         "ticket": "T1", "vehicle": "蒙L12345", "gross": "49.000", "tare": "16.000", "net": "33.000",
         "weighed_in": "2026-11-05T09:30", "weighed_out": "2026-11-05T10:00", "destination": "包头"},
        {"kind": "sale", "buyer": "包钢", "product": "clean", "tonnes": "33.000", "unit_price": "1200.00",
         "tax_included": True, "at": "2026-11-05T12:00", "tickets": ["T1"]},
    ]
    ids = []
    for e in entries:
        r = api.post(adm, base + "/ledger/entries", json=e)
        assert r.status_code == 201, r.text
        assert len(r.json()["hash"]) == 64
        ids.append(r.json()["id"])
    bal = {(b["product"], b["stockpile"]): b["tonnes"] for b in api.get(adm, base + "/ledger/balance").json()}
    assert bal[("raw", "raw_yard")] == "250.500" and bal[("clean", "clean_yard")] == "667.000"
    s = api.get(adm, base + "/ledger/summary", params={"period": "2026-11"}).json()
    assert s["production"] == "1250.500" and s["shipments"]["clean"] == "33.000"
    assert api.get(adm, base + "/ledger/verify").json()["ok"] is True
    kinds = [e["kind"] for e in api.get(adm, base + "/ledger/entries", params={"kind": "sale"}).json()]
    assert kinds == ["sale"]
    r = api.post(adm, base + "/ledger/entries", json={"kind": "reversal", "reverses": ids[0], "reason": "typo"})
    assert r.status_code == 201
    r = api.post(adm, base + "/ledger/entries", json={"kind": "reversal", "reverses": ids[0], "reason": "again"})
    assert r.status_code == 422 and "detail" in r.json()


def test_refusals_say_why(api: Api) -> None:
    code = new_enterprise(api)
    base = f"/api/v1/enterprises/{code}/ledger/entries"
    bad_net = {"kind": "shipment", "product": "raw", "stockpile": "y", "at": "2026-11-05T10:00", "ticket": "T9",
               "vehicle": "v", "gross": "40.000", "tare": "15.000", "net": "20.000"}
    r = api.post("admin", base, json=bad_net)
    assert r.status_code == 422 and "net" in r.json()["detail"]
    r = api.post("admin", base, json={"kind": "production", "product": "raw", "stockpile": "y", "tonnes": "1.2345",
                                      "at": "2026-11-05T10:00"})
    assert r.status_code == 422 and r.json()["detail"].startswith("body.production.tonnes")
    r = api.post("admin", base, json={"kind": "mining", "at": "2026-11-05T10:00"})
    assert r.status_code == 422 and "kind" in r.json()["detail"]
    r = api.post("admin", base, json={"kind": "production", "product": "unobtainium", "stockpile": "y",
                                      "tonnes": "1", "at": "2026-11-05T10:00"})
    assert r.status_code == 422 and "product" in r.json()["detail"]
    r = api.post("admin", "/api/v1/enterprises", json=enterprise_body(code, "海南区"))
    assert r.status_code == 409 and code in r.json()["detail"]
    assert api.get("admin", f"{base}/999999").status_code == 404
    r = api.get("admin", f"/api/v1/enterprises/{code}/ledger/summary", params={"period": "2026-13"})
    assert r.status_code == 422 and "period" in r.json()["detail"]
    r = api.get("admin", f"/api/v1/enterprises/{code}/ledger/balance", params={"at": "not a time"})
    assert r.status_code == 422 and r.json()["detail"].startswith("at:")


def test_close_month_then_entries_refused(api: Api) -> None:
    code = new_enterprise(api)
    base = f"/api/v1/enterprises/{code}"
    r = api.post("ent_a", base + "/close", json={"month": "2026-10"})
    assert r.status_code == 404  # not ent_a's enterprise
    r = api.post("admin", base + "/close", json={"month": "2026-10"})
    assert r.status_code == 201, r.text
    assert api.post("admin", base + "/close", json={"month": "2026-10"}).status_code == 409
    r = api.post("admin", base + "/ledger/entries", json={"kind": "production", "product": "raw", "stockpile": "y",
                                                          "tonnes": "1", "at": "2026-10-31T10:00"})
    assert r.status_code == 422 and "closed" in r.json()["detail"]


def test_anomalies_night_production_and_stop(api: Api) -> None:
    code = new_enterprise(api)
    base = f"/api/v1/enterprises/{code}"
    assert api.post("admin", base + "/stops", json={"from": "2026-11-10T00:00", "to": "2026-11-12T00:00",
                                                    "reason": "安全整改"}).status_code == 201
    for at in ("2026-11-03T02:00", "2026-11-11T10:00"):
        assert api.post("admin", base + "/ledger/entries", json={
            "kind": "production", "product": "raw", "stockpile": "y", "tonnes": "100", "at": at}).status_code == 201
    codes = {a["code"] for a in api.get("admin", base + "/anomalies",
                                        params={"from": "2026-11-01", "to": "2026-12-01"}).json()}
    assert {"NIGHT_PRODUCTION", "PRODUCTION_DURING_STOP"} <= codes
    run = api.post("admin", base + "/anomalies/run", params={"from": "2026-11-01", "to": "2026-12-01"}).json()
    assert run["new"] >= 2
    again = api.post("admin", base + "/anomalies/run", params={"from": "2026-11-01", "to": "2026-12-01"}).json()
    assert again["new"] == 0 and len(again["anomalies"]) == len(run["anomalies"])
    ov = api.get("admin", "/api/v1/regulator/overview", params={"period": "2026-11", "district": "海南区"}).json()
    row = next(r for r in ov if r["code"] == code)
    assert row["production"] == "200.000" and row["anomalies"] >= 2 and row["digitalization"] is None
