"""The digitalization routes through the API: who may do what (401/403/404 as CONTRACTS §7),
refused input naming the field, the register merged into the device list, the regional figures
and the overview's level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from platform_api.digitalization import level_for
from tests.platform_api.digitalization.conftest import DISTRICT_A, DISTRICT_B
from tests.platform_api.digitalization.dg_testkit import Api, history, ms, register
from tests.platform_api.digitalization.test_assessment import EDGES

P = "/api/v1/enterprises/{code}"
Req = Callable[[], dict[str, Any]]

# (method, path, "read" | "write", request kwargs)
ROUTES: list[tuple[str, str, str, Req]] = [
    ("PUT", P + "/devices", "write", lambda: {"json": register([("皮带", True, True, "gw1", "belt")])}),
    ("GET", P + "/devices", "read", lambda: {}),
    ("PUT", P + "/key-processes", "write", lambda: {"json": [{"name": "运输", "control": "plc", "devices": []}]}),
    ("GET", P + "/key-processes", "read", lambda: {}),
    ("PUT", P + "/assessment", "write", lambda: {"params": {"year": 2025}, "json": {"answers": {"network": "office"}}}),
    ("GET", P + "/assessment", "read", lambda: {"params": {"year": 2025}}),
    ("GET", P + "/digitalization", "read", lambda: {"params": {"year": 2025}}),
    ("GET", P + "/reports/transformation", "read", lambda: {"params": {"year": 2025}}),
]


def snapshot(api: Api, code: str) -> Any:
    return [api.get("admin", (P + p).format(code=code), params={"year": 2025}).json()
            for p in ("/devices", "/key-processes", "/assessment")]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1].replace(P, '')}")
def test_access_rules(dapi: Api, route: tuple[str, str, str, Req]) -> None:
    method, template, may, req = route
    a, ent_a = dapi.enterprise(DISTRICT_A)
    _, ent_b = dapi.enterprise(DISTRICT_B)
    url = template.format(code=a)
    before = snapshot(dapi, a)
    for who in ("nobody", "bogus"):
        r = dapi.call(who, method, url, **req())
        assert r.status_code == 401 and isinstance(r.json()["detail"], str), r.text
    # another enterprise's data looks exactly like data that does not exist
    r = dapi.call(ent_b, method, url, **req())
    missing = dapi.call(ent_b, method, template.format(code="NOSUCHCODE"), **req())
    assert r.status_code == missing.status_code == 404
    assert r.json() == {"detail": missing.json()["detail"].replace("NOSUCHCODE", a)} and a not in missing.text
    assert dapi.call("gateway", method, url, **req()).status_code == 403
    for who in ("regulator", "regulator_a", "regulator_b"):
        r = dapi.call(who, method, url, **req())
        if may == "write":
            assert r.status_code == 403, (who, r.text)
        elif who == "regulator_b":  # another district: nothing there
            assert r.status_code == 404, (who, r.text)
        else:
            assert r.status_code == 200, (who, r.text)
    assert snapshot(dapi, a) == before, "a refused call changed something"
    for who in (ent_a, "admin"):
        r = dapi.call(who, method, url, **req())
        assert r.status_code == 200, (who, r.text)


def test_register_and_key_processes_refuse_bad_rows(dapi: Api) -> None:
    code, ent = dapi.enterprise(DISTRICT_A)
    url = f"/api/v1/enterprises/{code}"
    r = dapi.put(ent, url + "/devices", json=[
        {"name": "皮带", "gateway": "gw1", "device": "belt"}, {"name": "皮带"},
        {"name": "泵", "gateway": "gw1"}, {"name": "秤", "gateway": "gw1", "device": "belt"}])
    assert r.status_code == 422
    d = r.json()["detail"]
    assert "body[1].name: '皮带' is listed twice (allowed: each name once)" in d
    assert "body[2].device: required when gateway is given" in d
    assert "body[3].device: gw1/belt is already bound to body[0]" in d
    r = dapi.put(ent, url + "/devices", json=[{"name": " 前后空格 "}])
    assert r.status_code == 422 and r.json()["detail"].startswith("body.0.name"), r.text
    r = dapi.put(ent, url + "/devices", json=[{"name": "泵", "production": "maybe"}])
    assert r.status_code == 422 and "body.0.production" in r.json()["detail"]
    assert dapi.put(ent, url + "/devices", json=register([("皮带", True, True, "gw1", "belt")])).status_code == 200
    r = dapi.put(ent, url + "/key-processes", json=[{"name": "运输", "control": "plc", "devices": ["皮带", "幽灵"]}])
    assert r.status_code == 422
    assert r.json()["detail"] == ("body[0].devices[1]: '幽灵' is not in the device register "
                                  "(allowed: names given with PUT .../devices)")
    r = dapi.put(ent, url + "/key-processes", json=[{"name": "运输", "control": "robot"}])
    assert r.status_code == 422 and "body.0.control" in r.json()["detail"] and "'nc'" in r.json()["detail"]
    assert dapi.get(ent, url + "/key-processes").json() == []


def test_device_list_merges_register_and_telemetry(dapi: Api) -> None:
    code, ent = dapi.enterprise(DISTRICT_A)
    history(dapi.engine, code, "gw1", "belt", ms(2025, 3, 1), 3)
    history(dapi.engine, code, "gw2", "stranger", ms(2025, 3, 1), 3)
    rows = register([("1号皮带", True, True, "gw1", "belt"), ("跳汰机", True, False, None, None)])
    assert dapi.put(ent, f"/api/v1/enterprises/{code}/devices", json=rows).status_code == 200
    got = dapi.get("regulator_a", f"/api/v1/enterprises/{code}/devices").json()
    assert [(d["name"], d["gateway"], d["device"], d["registered"]) for d in got] == [
        ("1号皮带", "gw1", "belt", True), ("跳汰机", None, None, True), (None, "gw2", "stranger", False)]
    telemetry_fields = {"profile", "state", "since", "error", "first_seen"}
    assert all(telemetry_fields <= set(d) for d in got)
    assert got[0]["first_seen"] is not None and got[1]["first_seen"] is None
    assert (got[0]["kind"], got[0]["production"], got[0]["digital"]) == ("belt_conveyor", True, True)
    # re-registering keeps the registration time of a row that keeps its name
    again = dapi.put(ent, f"/api/v1/enterprises/{code}/devices", json=rows[:1]).json()
    assert again[0]["registered_at"] == got[0]["registered_at"] and len(again) == 1


def test_assessment_round_trip_and_band_edge(dapi: Api) -> None:
    code, ent = dapi.enterprise(DISTRICT_B)
    url = f"/api/v1/enterprises/{code}/assessment"
    r = dapi.put(ent, url, params={"year": 2025}, json={"answers": {"network": "fibre", "x": 1},
                                                        "scenarios": {"safety": 9}})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("answers.network: 'fibre' is not an option (allowed: none, office,")
    assert "answers.x: unknown item" in r.json()["detail"] and "scenarios.safety: 9 is not a grade" in r.text
    assert dapi.put(ent, url, params={"year": 1999}, json={}).status_code == 422
    answers = EDGES[2][1]  # 39.99
    r = dapi.put(ent, url, params={"year": 2025}, json={"answers": answers, "scenarios": {"safety": 3}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["result"]["score"], body["result"]["level"], body["submitted"]) == (39.99, 1, True)
    assert body["answers"] == answers and body["scenarios"] == {"safety": 3}
    assert body["author"].startswith("enterprise:")
    assert level_for(code, 2025, engine=dapi.engine) == 1
    answers = EDGES[3][1]  # 40
    assert dapi.put(ent, url, params={"year": 2025}, json={"answers": answers}).json()["result"]["level"] == 2
    got = dapi.get("regulator_b", url, params={"year": 2025}).json()
    assert got["result"]["score"] == 40.0 and got["scenarios"] == {}
    other_year = dapi.get(ent, url, params={"year": 2024}).json()
    assert other_year["submitted"] is False and other_year["answers"] == {}
    assert level_for(code, 2024, engine=dapi.engine) is None
    view = dapi.get(ent, f"/api/v1/enterprises/{code}/digitalization", params={"year": 2025}).json()
    assert view["assessment"]["level"] == 2 and view["assessment"]["submitted"] is True
    assert len(view["monthly"]) == 12 and view["enterprise"]["district"] == DISTRICT_B


def test_regional_figures_and_overview_level(dapi: Api) -> None:
    # a district of its own so other tests' enterprises stay out of the figures
    district = f"测试区{ms(2025, 1, 1) % 997}{id(dapi) % 1000}"
    a, ent_a = dapi.enterprise(district)
    b, ent_b = dapi.enterprise(district)
    c, _ = dapi.enterprise(district)
    history(dapi.engine, a, "gw1", "belt", ms(2025, 6, 1), 5)
    history(dapi.engine, b, "gw1", "belt", ms(2025, 6, 1), 5)
    for code, ent, edge in ((a, ent_a, EDGES[5]), (b, ent_b, EDGES[1])):  # 60 -> level 3, 20 -> level 1
        r = dapi.put(ent, f"/api/v1/enterprises/{code}/assessment", params={"year": 2025},
                     json={"answers": edge[1]})
        assert r.status_code == 200, r.text
    r = dapi.get("regulator", "/api/v1/regulator/digitalization", params={"year": 2025, "district": district})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["enterprise_count"] == 3
    assert body["cloud_rate"] == {"rate": round(2 / 3, 4), "count": 2, "of": 3}
    assert body["level_2_or_above"] == 1 and body["assessed"] == 2 and body["average_score"] == 40.0
    assert [(e["code"], e["rank"], e["level"]) for e in body["enterprises"]] == [(a, 1, 3), (b, 2, 1), (c, None, None)]
    assert [d["district"] for d in body["districts"]] == [district]
    # a district-limited regulator sees nothing of another district
    r = dapi.get("regulator_a", "/api/v1/regulator/digitalization", params={"year": 2025, "district": district})
    assert r.status_code == 200 and r.json()["enterprise_count"] == 0
    for who in (ent_a, "gateway"):
        assert dapi.get(who, "/api/v1/regulator/digitalization").status_code == 403
    assert dapi.get("bogus", "/api/v1/regulator/digitalization").status_code == 401
    rows = dapi.get("admin", "/api/v1/regulator/overview", params={"period": "2025-11", "district": district}).json()
    assert {r["code"]: r["digitalization"] for r in rows} == {a: 3, b: 1, c: None}


def test_questionnaire_route(dapi: Api) -> None:
    _, ent = dapi.enterprise(DISTRICT_A)
    q = dapi.get(ent, "/api/v1/digitalization/questionnaire").json()
    assert q["edition"] == "2024" and [d["weight"] for d in q["dimensions"]] == [50, 30, 20]
    assert dapi.get("gateway", "/api/v1/digitalization/questionnaire").status_code == 403
    r = dapi.get("admin", "/api/v1/digitalization/questionnaire", params={"edition": "1999"})
    assert r.status_code == 422 and r.json()["detail"].startswith("edition: '1999' is not known")
