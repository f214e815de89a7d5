"""Telemetry through the API: POST /ingest, latest, history with step, gaps, alarms, meters."""

from __future__ import annotations

import uuid
from typing import Any

from devices.model import iso_ms
from platform_api.auth import create_token
from tests.platform_api.routes.conftest import Api, enterprise_body

T0 = 1_796_284_800  # 2026-12-03T08:00:00Z


def setup_enterprise(api: Api, **over: Any) -> tuple[str, str, str]:
    code = "T" + uuid.uuid4().hex[:8].upper()
    assert api.post("admin", "/api/v1/enterprises", json=enterprise_body(code, "乌达区", **over)).status_code == 201
    e = api.app.state.engine
    ent = create_token(e, "enterprise", enterprise=code)
    gw = create_token(e, "gateway", enterprise=code, gateway="gw1")
    api.tokens[f"ent_{code}"], api.tokens[f"gw_{code}"] = ent, gw
    return code, f"ent_{code}", f"gw_{code}"


def ingest(api: Api, who: str, device: str, seq: int, samples: list[tuple[str, Any, float]], epoch: str = "e1") -> Any:
    return api.post(who, "/api/v1/ingest", json={
        "gateway": "gw1", "device": device, "epoch": epoch, "seq": seq,
        "samples": [{"tag": t, "value": v, "quality": "good", "ts": iso_ms(ts)} for t, v, ts in samples]})


def test_ingest_latest_history_gaps(api: Api) -> None:
    code, ent, gw = setup_enterprise(api)
    base = f"/api/v1/enterprises/{code}/telemetry"
    for seq in (1, 2, 3, 5):
        r = ingest(api, gw, "belt", seq, [("flow_tph", 100.0 + seq, T0 + seq * 60), ("running", True, T0 + seq * 60)])
        assert r.status_code == 200 and r.json()["accepted"] is True
    r = ingest(api, gw, "belt", 3, [("flow_tph", 999.0, T0 + 180)])
    assert r.json() == {"accepted": False, "duplicate": True, "samples": 0, "gaps": []}
    latest = {x["tag"]: x for x in api.get(ent, base + "/latest").json()}
    assert latest["flow_tph"]["value"] == 105 and latest["running"]["value"] is True
    assert latest["flow_tph"]["ts"] == iso_ms(T0 + 300)
    gaps = api.get(ent, base + "/gaps").json()
    assert [(g["first_seq"], g["last_seq"], g["state"]) for g in gaps] == [(4, 4, "missing")]
    raw = api.get(ent, base + "/history", params={"device": "belt", "tag": "flow_tph", "from": iso_ms(T0),
                                                  "to": iso_ms(T0 + 3600)}).json()
    assert [p["value"] for p in raw["points"]] == [101, 102, 103, 105]
    steps = api.get(ent, base + "/history", params={"device": "belt", "tag": "flow_tph", "from": iso_ms(T0),
                                                    "to": iso_ms(T0 + 3600), "step": "10m"}).json()
    (b,) = steps["points"]
    assert (b["min"], b["max"], b["count"]) == (101.0, 105.0, 4) and abs(b["avg"] - 102.75) < 1e-9
    for params, field in (({"device": "belt", "tag": "x", "step": "fortnight"}, "step"),
                          ({"device": "belt", "tag": "x", "from": "2026-13-01"}, "from"),
                          ({"device": "belt", "tag": "x", "step": "1s", "from": "2020-01-01", "to": "2026-01-01"},
                           "step"),
                          ({"tag": "x"}, "query.device")):
        r = api.get(ent, base + "/history", params=params)
        assert r.status_code == 422 and r.json()["detail"].startswith(field), r.text


def test_ingest_refuses_bad_batches(api: Api) -> None:
    _code, _ent, gw = setup_enterprise(api)
    r = api.post(gw, "/api/v1/ingest", json={"gateway": "gw1", "device": "belt", "epoch": "e", "seq": 0, "samples": []})
    assert r.status_code == 422 and "seq" in r.json()["detail"]
    r = api.post(gw, "/api/v1/ingest", json={"gateway": "gw1", "device": "belt", "epoch": "e", "seq": 1,
                                             "samples": [{"tag": "t", "value": 1, "quality": "fine"}]})
    assert r.status_code == 422 and "quality" in r.json()["detail"]


def test_profile_alarms_raise_ack_clear(api: Api) -> None:
    code, ent, gw = setup_enterprise(api)
    base = f"/api/v1/enterprises/{code}"
    r = api.put(ent, base + "/devices/gas1", json={"gateway": "gw1", "profile": "methane_sensor"})
    assert r.status_code == 200 and len(r.json()["rules_added"]) >= 2
    rules = {x["name"]: x for x in api.get(ent, base + "/alarms/rules", params={"device": "gas1"}).json()}
    assert rules["ch4_alarm"]["above"] == 1.0 and rules["ch4_alarm"]["source"] == "profile:methane_sensor"
    ingest(api, gw, "gas1", 1, [("ch4_pct", 0.8, T0), ("ch4_pct", 1.0, T0 + 2), ("ch4_pct", 1.6, T0 + 4)])
    open_ = api.get(ent, base + "/alarms", params={"state": "open"}).json()
    assert sorted(a["name"] for a in open_) == ["ch4_alarm", "ch4_power_off"]
    reg = api.get("regulator_b", "/api/v1/regulator/alarms", params={"state": "open", "limit": 1000}).json()
    assert {a["id"] for a in open_} <= {a["id"] for a in reg}
    assert not {a["id"] for a in open_} & {a["id"] for a in api.get("regulator_a", "/api/v1/regulator/alarms").json()}
    first = open_[0]["id"]
    r = api.post(ent, f"{base}/alarms/{first}/acknowledge", json={"note": "风量已调整"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["note"] == "风量已调整"
    assert api.post("regulator_b", f"{base}/alarms/{first}/acknowledge").status_code == 403
    ingest(api, gw, "gas1", 2, [("ch4_pct", 0.99, T0 + 10)])
    assert api.get(ent, base + "/alarms", params={"state": "open"}).json() == []
    assert api.post(ent, f"{base}/alarms/987654/acknowledge").status_code == 404
    r = api.post(ent, base + "/alarms/rules", json={"device": "gas1", "tag": "co", "name": "co", "above": 24,
                                                    "clear": 30})
    assert r.status_code == 422 and r.json()["detail"].startswith("clear")
    r = api.post(ent, base + "/alarms/rules",
                 json={"device": "gas1", "tag": "ch4_pct", "name": "ch4_alarm", "above": 1})
    assert r.status_code == 409
    r = api.post(ent, base + "/alarms/rules/from-profile", json={"device": "x", "profile": "no_such_profile"})
    assert r.status_code == 422 and "methane_sensor" in r.json()["detail"]


def test_meters_feed_the_ledger_per_shift(api: Api) -> None:
    """A metered enterprise: belt-scale totalizer readings become one production entry per shift."""
    code, ent, gw = setup_enterprise(api, production_source="metered", night_ban=None)
    base = f"/api/v1/enterprises/{code}"
    r = api.put(ent, base + "/meters", json=[{"gateway": "gw1", "device": "belt", "tag": "total_t",
                                              "measures": "production", "product": "raw", "stockpile": "raw_yard"}])
    assert r.status_code == 200, r.text
    # 2026-11-03 08:00–16:00 Shanghai = 00:00–08:00 UTC; 100 t per hour, read every 30 min, on to 17:00
    start = 1_793_664_000  # 2026-11-03T00:00:00Z
    for i in range(0, 19):
        assert ingest(api, gw, "belt", i + 1, [("total_t", 5000.0 + 50.0 * i, start + i * 1800)]).status_code == 200
    out = api.post("admin", "/api/v1/jobs/run").json()
    assert out["meters"][f"{code}/gw1/belt/total_t"]["readings"] == 19
    entries = api.get(ent, base + "/ledger/entries", params={"kind": "production"}).json()
    day = [e for e in entries if e["source"] == "telemetry" and e["at"].startswith("2026-11-03T08:00")]
    assert len(day) == 1 and day[0]["tonnes"] == "800.000", entries
    # a second run feeds nothing new
    assert api.post("admin", "/api/v1/jobs/run").json()["meters"][f"{code}/gw1/belt/total_t"]["readings"] == 0
