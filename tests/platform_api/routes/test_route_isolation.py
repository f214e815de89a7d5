"""Every route, every role: 401 without a valid token, 404 for another enterprise's data (never
revealing it exists), 403 for a role that may not do it, success for the owner; and no refused
call changes anything."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from devices.model import iso_ms
from tests.platform_api.routes.conftest import Api

P = "/api/v1/enterprises/{code}"
_n = itertools.count(1)

Req = Callable[[Api], dict[str, Any]]
_months = itertools.count(0)


def _next_month() -> str:
    """Ever later months long before the test entries (closing one closes all before it)."""
    k = next(_months)
    return f"{1950 + k // 12}-{k % 12 + 1:02d}"


def _rule(api: Api) -> int:
    r = api.post("admin", f"/api/v1/enterprises/{api.a}/alarms/rules",
                 json={"device": "gas1", "tag": "ch4", "name": f"r{next(_n)}", "above": 2.0})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _entry(api: Api) -> int:
    r = api.post("admin", f"/api/v1/enterprises/{api.a}/ledger/entries",
                 json={"kind": "production", "product": "raw", "stockpile": "yard", "tonnes": "10.000",
                       "at": "2026-11-03T10:00"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _alarm(api: Api) -> int:
    _rule(api)
    seq = next(_n)
    r = api.post("gw_a", "/api/v1/ingest", json={
        "gateway": "gw1", "device": "gas1", "epoch": "iso", "seq": seq,
        "samples": [{"tag": "ch4", "value": 3.0, "quality": "good", "ts": iso_ms(1_796_284_800 + seq)}]})
    assert r.status_code == 200, r.text
    r = api.get("admin", f"/api/v1/enterprises/{api.a}/alarms")
    return int(r.json()[0]["id"])


# (method, path template, who may: "read" | "write" | "admin", extra path params, request kwargs)
ROUTES: list[tuple[str, str, str, Callable[[Api], dict[str, Any]], Req]] = [
    ("GET", P, "read", lambda a: {}, lambda a: {}),
    ("PATCH", P, "admin", lambda a: {}, lambda a: {"json": {"name": "新名称"}}),
    ("POST", P + "/stops", "write", lambda a: {},
     lambda a: {"json": {"from": "2026-10-01T00:00", "to": "2026-10-02T00:00", "reason": "检修"}}),
    ("GET", P + "/stops", "read", lambda a: {}, lambda a: {}),
    ("POST", P + "/close", "write", lambda a: {}, lambda a: {"json": {"month": _next_month()}}),
    ("GET", P + "/closes", "read", lambda a: {}, lambda a: {}),
    ("POST", P + "/ledger/entries", "write", lambda a: {}, lambda a: {"json": {
        "kind": "production", "product": "raw", "stockpile": "yard", "tonnes": "1.000", "at": "2026-11-04T10:00"}}),
    ("GET", P + "/ledger/entries", "read", lambda a: {}, lambda a: {"params": {"kind": "production"}}),
    ("GET", P + "/ledger/entries/{entry_id}", "read", lambda a: {"entry_id": _entry(a)}, lambda a: {}),
    ("GET", P + "/ledger/balance", "read", lambda a: {}, lambda a: {"params": {"at": "2026-12-01T00:00"}}),
    ("GET", P + "/ledger/summary", "read", lambda a: {}, lambda a: {"params": {"period": "2026-11"}}),
    ("GET", P + "/ledger/verify", "read", lambda a: {}, lambda a: {}),
    ("GET", P + "/anomalies", "read", lambda a: {}, lambda a: {"params": {"from": "2026-11-01", "to": "2026-12-01"}}),
    ("POST", P + "/anomalies/run", "write", lambda a: {}, lambda a: {"params": {"from": "2026-11-01"}}),
    ("PUT", P + "/meters", "write", lambda a: {}, lambda a: {"json": [
        {"gateway": "gw1", "device": "belt", "tag": "total_t", "measures": "production", "product": "raw"}]}),
    ("GET", P + "/meters", "read", lambda a: {}, lambda a: {}),
    ("GET", P + "/meters/production", "read", lambda a: {}, lambda a: {}),
    ("GET", P + "/telemetry/latest", "read", lambda a: {}, lambda a: {}),
    ("GET", P + "/telemetry/history", "read", lambda a: {},
     lambda a: {"params": {"device": "gas1", "tag": "ch4", "from": "2026-12-01", "to": "2026-12-31", "step": "1d"}}),
    ("GET", P + "/telemetry/gaps", "read", lambda a: {}, lambda a: {}),
    ("GET", P + "/gateways", "read", lambda a: {}, lambda a: {}),
    ("GET", P + "/devices", "read", lambda a: {}, lambda a: {}),
    ("PUT", P + "/devices/{device}", "write", lambda a: {"device": "dust1"},
     lambda a: {"json": {"gateway": "gw1", "profile": "dust_monitor"}}),
    ("GET", P + "/alarms", "read", lambda a: {}, lambda a: {"params": {"state": "open"}}),
    ("POST", P + "/alarms/{alarm_id}/acknowledge", "write", lambda a: {"alarm_id": _alarm(a)},
     lambda a: {"json": {"note": "seen"}}),
    ("GET", P + "/alarms/rules", "read", lambda a: {}, lambda a: {}),
    ("POST", P + "/alarms/rules", "write", lambda a: {},
     lambda a: {"json": {"device": "gas2", "tag": "co", "name": f"co{next(_n)}", "above": 24}}),
    ("PUT", P + "/alarms/rules/{rule_id}", "write", lambda a: {"rule_id": _rule(a)},
     lambda a: {"json": {"device": "gas1", "tag": "ch4", "name": f"x{next(_n)}", "above": 1.0}}),
    ("DELETE", P + "/alarms/rules/{rule_id}", "write", lambda a: {"rule_id": _rule(a)}, lambda a: {}),
    ("POST", P + "/alarms/rules/from-profile", "write", lambda a: {},
     lambda a: {"json": {"device": f"ch4_{next(_n)}", "profile": "methane_sensor"}}),
]

STATUS_OK = range(200, 300)


def route_id(r: tuple[Any, ...]) -> str:
    return f"{r[0]} {r[1].replace(P, '')}"


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_enterprise_route_isolation(api: Api, route: tuple[str, str, str, Any, Req]) -> None:
    method, template, who_may, params, req = route

    path_params = params(api)

    def url(code: str) -> str:
        return template.format(code=code, **path_params)

    writes = method != "GET"
    snapshot = _snapshot(api) if writes else None
    # no token / unknown token
    for who in ("nobody", "bogus"):
        r = api.call(who, method, url(api.a), **req(api))
        assert r.status_code == 401, (who, r.text)
        assert isinstance(r.json()["detail"], str)
    # another enterprise's data: 404, exactly as for a code that does not exist
    for who in ("ent_b",):
        r = api.call(who, method, url(api.a), **req(api))
        missing = api.call(who, method, url("NOSUCHCODE"), **req(api))
        # (an admin-only route refuses the role itself, for every code alike)
        expected = 403 if who_may == "admin" else 404
        assert r.status_code == missing.status_code == expected, (who, r.text)
        assert r.json() == {"detail": missing.json()["detail"].replace("NOSUCHCODE", api.a)}
        assert api.a not in missing.text
    # gateways post telemetry only
    for who in ("gw_a", "gw_b"):
        assert api.call(who, method, url(api.a), **req(api)).status_code == 403, who
    # regulators: read in scope, never write; another district looks like nothing at all
    for who in ("regulator", "regulator_a", "regulator_b"):
        r = api.call(who, method, url(api.a), **req(api))
        if who_may != "read":
            assert r.status_code == 403, (who, r.text)
        elif who == "regulator_b":
            assert r.status_code == 404, (who, r.text)
        else:
            assert r.status_code in STATUS_OK, (who, r.text)
    if who_may == "admin":
        assert api.call("ent_a", method, url(api.a), **req(api)).status_code == 403
    if writes:
        assert _snapshot(api) == snapshot, "a refused call changed something"
    # the owner (and admin) succeed
    owners = ("admin",) if who_may == "admin" else ("ent_a", "admin")
    for who in owners:
        path_params = params(api)  # a fresh object each (a DELETE consumes it)
        r = api.call(who, method, url(api.a), **req(api))
        assert r.status_code in STATUS_OK, (who, r.text)


def _snapshot(api: Api) -> Any:
    base = f"/api/v1/enterprises/{api.a}"
    return [
        api.get("admin", base + p).json()
        for p in ("", "/stops", "/closes", "/ledger/entries?limit=10000", "/meters", "/devices", "/alarms?limit=10000",
                  "/alarms/rules", "/telemetry/latest")
    ]


def test_every_enterprise_route_is_covered(api: Api) -> None:
    have = {(m, t) for m, t, *_ in ROUTES}
    for r in api.app.routes:
        path = getattr(r, "path", "")
        module = getattr(getattr(r, "endpoint", None), "__module__", "")
        if "{code}" in path and module.startswith("platform_api.routes.") and "digitalization" not in module:
            for m in r.methods - {"HEAD", "OPTIONS"}:
                assert (m, path) in have, f"{m} {path} has no isolation test"


# -- routes without an enterprise in the path ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed", "kw"),
    [
        ("GET", "/api/v1/enterprises", ("admin", "regulator", "regulator_a", "regulator_b", "ent_a", "ent_b"), {}),
        ("POST", "/api/v1/enterprises", ("admin",), {"json": {"code": "X", "name": "x", "kind": "factory"}}),
        ("GET", "/api/v1/regulator/overview", ("admin", "regulator", "regulator_a", "regulator_b"),
         {"params": {"period": "2026-11"}}),
        ("GET", "/api/v1/regulator/alarms", ("admin", "regulator", "regulator_a", "regulator_b"), {}),
        ("GET", "/api/v1/audit", ("admin", "ent_a", "ent_b"), {}),
        ("POST", "/api/v1/jobs/run", ("admin",), {}),
    ],
)
def test_global_route_roles(api: Api, method: str, path: str, allowed: tuple[str, ...], kw: dict) -> None:
    for who in ("nobody", "bogus"):
        assert api.call(who, method, path, **kw).status_code == 401
    for who in ("admin", "regulator", "regulator_a", "regulator_b", "ent_a", "ent_b", "gw_a"):
        if who in allowed:
            continue
        r = api.call(who, method, path, **kw)
        assert r.status_code == 403, (who, r.text)


def test_listings_show_only_what_is_in_scope(api: Api) -> None:
    def codes(who: str) -> set[str]:
        r = api.get(who, "/api/v1/enterprises", params={"limit": 10_000})
        assert r.status_code == 200
        return {e["code"] for e in r.json()} & {api.a, api.b}

    assert codes("admin") == codes("regulator") == {api.a, api.b}
    assert codes("regulator_a") == {api.a} and codes("regulator_b") == {api.b}
    assert codes("ent_a") == {api.a} and codes("ent_b") == {api.b}
    ov = api.get("regulator_b", "/api/v1/regulator/overview", params={"period": "2026-11"}).json()
    assert {r["code"] for r in ov} & {api.a, api.b} == {api.b}
    assert api.get("regulator_b", "/api/v1/regulator/overview",
                   params={"period": "2026-11", "district": "海南区"}).json() == []
    audit_b = api.get("ent_b", "/api/v1/audit", params={"limit": 10_000}).json()
    assert audit_b and all(r["enterprise"] == api.b for r in audit_b)


def test_gateway_ingests_only_for_itself(api: Api) -> None:
    body = {"gateway": "gw1", "device": "belt", "epoch": "own", "seq": 1,
            "samples": [{"tag": "flow", "value": 1.0, "quality": "good", "ts": "2026-12-03T08:00:00Z"}]}
    assert api.post("gw_a2", "/api/v1/ingest", json=body).status_code == 403  # same enterprise, other gateway
    for who in ("admin", "ent_a", "regulator"):
        assert api.post(who, "/api/v1/ingest", json=body).status_code == 403
    assert api.post("nobody", "/api/v1/ingest", json=body).status_code == 401
    r = api.post("gw_b", "/api/v1/ingest", json=body)  # gateway gw1 of enterprise B: lands in B only
    assert r.status_code == 200 and r.json()["accepted"] is True
    lb = api.get("ent_b", f"/api/v1/enterprises/{api.b}/telemetry/latest").json()
    assert [(x["gateway"], x["device"], x["tag"]) for x in lb] == [("gw1", "belt", "flow")]
    la = api.get("ent_a", f"/api/v1/enterprises/{api.a}/telemetry/latest").json()
    assert all(x["device"] != "belt" for x in la)


def test_audit_records_who_read_and_wrote(api: Api) -> None:
    api.get("regulator_a", f"/api/v1/enterprises/{api.a}/ledger/summary", params={"period": "2026-11"})
    api.get("ent_b", f"/api/v1/enterprises/{api.a}/ledger/verify")
    rows = api.get("admin", "/api/v1/audit", params={"enterprise": api.a, "limit": 50}).json()
    reads = [(r["role"], r["path"].rsplit("/", 1)[-1], r["action"], r["status"]) for r in rows]
    assert ("regulator", "summary", "read", 200) in reads
    assert ("enterprise", "verify", "read", 404) in reads  # refused attempts are recorded too
