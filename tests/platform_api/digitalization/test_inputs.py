"""Rates on a synthetic telemetry history written through the platform's ingest path, read back
from its tables (SQLite and PostgreSQL), with the ledger's entry sources and the month cache."""

from __future__ import annotations

from sqlalchemy import delete

from platform_api import db
from platform_api.digitalization import inputs as inp
from platform_api.digitalization import service, store
from platform_api.digitalization.metrics import SLOT_MS, slots_between
from tests.platform_api.digitalization.dg_testkit import Api, history, ms, register

NOW = ms(2026, 6, 1)  # the test's "now": all of 2025 is past and final


def test_activity_per_month_device_and_tag(dapi: Api) -> None:
    code, _ = dapi.enterprise("海南区")
    e = dapi.engine
    # belt: all of 10 March 2025 (UTC), flow every slot, total every 2nd slot (2 samples per slot)
    history(e, code, "gw1", "belt", ms(2025, 3, 10), 288, tags=("flow_tph",))
    history(e, code, "gw1", "belt", ms(2025, 3, 10), 288, tags=("total_t",), every=2, per_slot=2)
    # crusher: 100 slots straddling the Shanghai month boundary (1 April 00:00+08 = 31 March 16:00Z)
    history(e, code, "gw1", "crusher", ms(2025, 3, 31, 15), 100)
    # bad samples fill no slot
    history(e, code, "gw1", "pump", ms(2025, 5, 1), 50, quality="bad")
    acts = inp.year_activity(e, code, 2025, NOW)
    assert set(acts) == {f"2025-{m:02d}" for m in range(1, 13)}
    belt = acts["2025-03"][("gw1", "belt")]
    assert (belt.slots, belt.first_ms, belt.tags) == (288, ms(2025, 3, 10), {"flow_tph": 288, "total_t": 144})
    assert acts["2025-03"][("gw1", "crusher")].slots == 12      # 15:00-16:00Z
    assert acts["2025-04"][("gw1", "crusher")].slots == 88
    assert ("gw1", "pump") not in acts["2025-05"]
    with e.connect() as conn:
        since, tags = inp.known_devices(conn, code)
    assert tags[("gw1", "pump")] == {"flow_tph"} and ("gw1", "pump") in since


def test_rates_from_history_and_register(dapi: Api) -> None:
    code, ent = dapi.enterprise("海南区")
    e = dapi.engine
    r = dapi.put(ent, f"/api/v1/enterprises/{code}/devices", json=register([
        ("1号皮带", True, True, "gw1", "belt"),
        ("破碎机", True, False, None, "crusher"),
        ("跳汰机", True, False, None, None),
        ("水泵", True, False, "gw1", "pump"),
        ("空调", False, False, "gw1", "aircon"),
    ]))
    assert r.status_code == 200, r.text
    history(e, code, "gw1", "belt", ms(2025, 3, 10), 288)
    history(e, code, "gw2", "crusher", ms(2025, 7, 1), 10)
    history(e, code, "gw1", "aircon", ms(2025, 7, 1), 10)
    history(e, code, "gw1", "pump", ms(2025, 7, 1), 10, quality="bad")
    view = service.enterprise_view(e, dapi.app.state.ledger, {"code": code, "name": "x"}, 2025, NOW)
    m = view["metrics"]
    assert m["networking_rate"] == {"rate": 0.5, "count": 2, "of": 4}      # belt, crusher of 4 production
    assert m["digitalization_rate"] == {"rate": 0.5, "count": 2, "of": 4}  # belt (declared), crusher (networked)
    months = {x["period"]: x for x in view["monthly"]}
    assert months["2025-03"]["networking_rate"] == 0.25 and months["2025-07"]["networking_rate"] == 0.25
    assert months["2025-05"]["networking_rate"] == 0.0
    devices = {d["name"]: d for d in m["devices"]}
    end = inp.year_period(2025).end_ms
    assert devices["1号皮带"]["online"] == {"count": 288, "of": slots_between(ms(2025, 3, 10), end),
                                          "rate": round(288 / slots_between(ms(2025, 3, 10), end), 4)}
    # the pump only ever sent bad samples, and was registered and first seen after 2025 (wall clock
    # of this test run): nothing was expected of it in 2025, and its tag shows as never delivered
    pump = devices["水泵"]
    assert pump["online"] == {"rate": None, "count": 0, "of": 0} and not pump["networked"]
    assert pump["tags"] == [{"tag": "flow_tph", "rate": None, "count": 0, "of": 0}]
    # the assessment's measured items follow the register
    items = {i["id"]: i for i in view["assessment"]["items"]}
    assert items["equipment_networking"]["measured"] == {"rate": 0.5, "count": 2, "of": 4}
    assert items["equipment_networking"]["score"] == 4.8  # 12 x (0.5 - 0.1)


def test_ledger_share_counts_entry_sources(dapi: Api) -> None:
    code, _ = dapi.enterprise("乌达区")
    ledger = dapi.app.state.ledger
    for k, src in enumerate(["manual", "manual", "telemetry", "telemetry", "telemetry", "import"]):
        ledger.append(code, {"kind": "production", "product": "raw", "stockpile": "yard", "tonnes": "10.000",
                             "at": f"2025-03-{k + 1:02d}T10:00", "source": src})
    first = ledger.list_entries(code, limit=1)[0]
    ledger.append(code, {"kind": "reversal", "reverses": first["id"], "reason": "录入错误"})
    ledger.append(code, {"kind": "production", "product": "raw", "stockpile": "yard", "tonnes": "1.000",
                         "at": "2024-12-31T23:59"})  # previous year (Asia/Shanghai)
    counts = inp.ledger_counts(ledger, code, 2025)
    assert counts == {"2025-03": {"manual": 2, "telemetry": 3, "import": 1}}
    view = service.enterprise_view(dapi.engine, ledger, {"code": code}, 2025, NOW)
    assert view["metrics"]["ledger_telemetry_share"]["rate"] == 0.5


def test_final_months_are_cached_and_open_months_recomputed(dapi: Api) -> None:
    code, _ = dapi.enterprise("乌达区")
    e = dapi.engine
    history(e, code, "gw1", "belt", ms(2025, 11, 3), 20)
    history(e, code, "gw1", "belt", ms(2025, 12, 3), 30)
    # "now" is 5 days after the year: November is final, December is not
    now = ms(2026, 1, 5)
    first = inp.year_activity(e, code, 2025, now)
    with e.begin() as conn:
        conn.execute(delete(db.rollup).where(db.rollup.c.enterprise == code))
    again = inp.year_activity(e, code, 2025, now)
    assert again["2025-11"][("gw1", "belt")].slots == first["2025-11"][("gw1", "belt")].slots == 20
    assert first["2025-12"][("gw1", "belt")].slots == 30 and again["2025-12"] == {}
    with e.connect() as conn:
        assert set(store.cached_months(conn, code, ["2025-11", "2025-12"])) == {"2025-11"}
    assert SLOT_MS == db.ROLLUP_MS
