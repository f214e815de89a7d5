"""Measured rates over plain inputs: networking, digitalization, online, completeness, ledger share,
key-process NC rate and the regional figures, each checked against a hand count."""

from __future__ import annotations

from decimal import Decimal

from platform_api.digitalization.assessment import Share
from platform_api.digitalization.metrics import (
    SLOT_MS,
    Activity,
    EnterpriseFigures,
    Inputs,
    KeyProcess,
    Period,
    RegisteredDevice,
    device_rows,
    digitalization_rate,
    key_process_rate,
    ledger_share,
    measure,
    networking_rate,
    online_rate,
    region,
    slots_between,
)

DAY = 86_400_000
P = Period("d", 10 * DAY, 11 * DAY)  # one day: 288 slots

REGISTER = [
    RegisteredDevice("belt", production=True, digital=True, gateway="gw1", device="belt"),
    RegisteredDevice("crusher", production=True, digital=False, device="crusher"),   # any gateway
    RegisteredDevice("jig", production=True, digital=True),                           # not networked
    RegisteredDevice("pump", production=True, digital=False, gateway="gw2", device="pump"),  # silent
    RegisteredDevice("aircon", production=False, digital=False, gateway="gw1", device="aircon"),
]
ACT = {
    ("gw1", "belt"): Activity(144, 10 * DAY, {"flow": 144, "total": 72}),
    ("gw9", "crusher"): Activity(288, 10 * DAY, {"amps": 288}),
    ("gw1", "aircon"): Activity(288, 10 * DAY, {"t": 288}),
    ("gw1", "stranger"): Activity(288, 10 * DAY, {"x": 288}),
}


def test_slots_between_counts_overlapping_buckets() -> None:
    assert slots_between(0, 0) == 0
    assert slots_between(0, SLOT_MS) == 1
    assert slots_between(0, SLOT_MS + 1) == 2
    assert slots_between(SLOT_MS - 1, SLOT_MS + 1) == 2
    assert slots_between(P.start_ms, P.end_ms) == 288


def test_networking_and_digitalization_rates() -> None:
    # production devices: belt, crusher, jig, pump; networked: belt, crusher (on any gateway)
    assert networking_rate(REGISTER, ACT) == Share(2, 4)
    # digital: belt, jig (declared) + crusher (networked proves it)
    assert digitalization_rate(REGISTER, ACT) == Share(3, 4)
    assert networking_rate([], ACT).value is None


def test_online_rate_over_bound_production_devices() -> None:
    # belt 144 of 288, crusher 288 of 288, pump 0 of 288 (bound, silent, known for long)
    known = {("gw2", "pump"): 0}
    assert online_rate(REGISTER, ACT, P, now_ms=20 * DAY, known_since=known) == Share(432, 864)
    # the period is still running: expected only up to now (half the day)
    half = P.start_ms + DAY // 2
    assert online_rate(REGISTER[:1], {("gw1", "belt"): Activity(144, P.start_ms)}, P, now_ms=half) == Share(144, 144)
    # a device first seen at noon is expected from then on
    late = {("gw1", "belt"): Activity(72, P.start_ms + DAY // 2)}
    assert online_rate(REGISTER[:1], late, P, now_ms=20 * DAY) == Share(72, 144)


def test_device_rows_completeness_per_tag() -> None:
    rows = {r["name"]: r for r in device_rows(REGISTER, ACT, P, 20 * DAY, {("gw2", "pump"): 0},
                                              {("gw1", "belt"): {"flow", "total", "speed"}})}
    belt = rows["belt"]
    assert belt["networked"] and belt["online"] == {"rate": 0.5, "count": 144, "of": 288}
    assert [(t["tag"], t["count"], t["of"]) for t in belt["tags"]] == [
        ("flow", 144, 288), ("speed", 0, 288), ("total", 72, 288)]
    assert belt["completeness"] == round((0.5 + 0 + 0.25) / 3, 4)
    assert rows["jig"]["online"] is None and not rows["jig"]["bound"] and rows["jig"]["completeness"] is None
    assert rows["pump"]["online"] == {"rate": 0.0, "count": 0, "of": 288} and not rows["pump"]["networked"]


def test_ledger_share() -> None:
    assert ledger_share({"manual": 6, "telemetry": 3, "import": 1}) == Share(3, 10)
    assert ledger_share({}).value is None


def test_key_process_nc_rate_needs_control_and_a_networked_device() -> None:
    procs = [
        KeyProcess("运输", "plc", ("belt",)),            # PLC and belt delivers: counts
        KeyProcess("洗选", "dcs", ("jig",)),             # declared DCS but no device delivers
        KeyProcess("破碎", "manual", ("crusher",)),      # networked, but manual control
        KeyProcess("排水", "nc", ("pump", "ghost")),     # pump silent, ghost not registered
    ]
    share, rows = key_process_rate(procs, REGISTER, ACT)
    assert share == Share(1, 4)
    assert [r["evidenced"] for r in rows] == [True, False, False, False]
    assert rows[3]["unknown_devices"] == ["ghost"] and rows[2]["networked_devices"] == ["crusher"]


def test_measure_year_and_months() -> None:
    jan, feb, mar = Period("01", 0, 31 * DAY), Period("02", 31 * DAY, 59 * DAY), Period("03", 59 * DAY, 90 * DAY)
    inputs = Inputs(
        register=REGISTER[:2],
        key_processes=[KeyProcess("运输", "plc", ("belt",))],
        activity={"01": {("gw1", "belt"): Activity(100, 0, {"flow": 100})},
                  "02": {("gw1", "crusher"): Activity(50, 40 * DAY, {"amps": 50})}},
        ledger={"01": {"manual": 3}, "02": {"telemetry": 1, "manual": 1}},
    )
    out = measure(inputs, Period("y", 0, 90 * DAY), [jan, feb, mar], now_ms=45 * DAY)
    assert out["networking_rate"] == {"rate": 1.0, "count": 2, "of": 2}
    assert out["ledger_telemetry_share"] == {"rate": 0.2, "count": 1, "of": 5,
                                             "by_source": {"manual": 4, "telemetry": 1}}
    assert out["key_process_nc_rate"]["rate"] == 1.0 and out["key_process_nc_rate"]["target"] == 0.68
    # months: March has not begun at day 45 and is left out
    assert [m["period"] for m in out["monthly"]] == ["01", "02"]
    assert [m["networking_rate"] for m in out["monthly"]] == [0.5, 0.5]
    assert [m["key_process_nc_rate"] for m in out["monthly"]] == [1.0, 0.0]
    assert [m["ledger_telemetry_share"] for m in out["monthly"]] == [0.0, 0.5]
    # belt: 100 slots from day 0 to day 45 (now)
    assert out["devices"][0]["online"] == {"rate": round(100 / slots_between(0, 45 * DAY), 4), "count": 100,
                                           "of": slots_between(0, 45 * DAY)}


def test_region_cloud_rate_levels_and_district_ranking() -> None:
    rows = [
        EnterpriseFigures("A1", "甲", "海南区", True, Decimal("45"), 2, Share(1, 2)),
        EnterpriseFigures("A2", "乙", "海南区", False, Decimal("25"), 1, Share(0, 2)),
        EnterpriseFigures("B1", "丙", "乌达区", True, Decimal("70"), 3, Share(2, 2)),
        EnterpriseFigures("B2", "丁", "乌达区", True, None, None),
        EnterpriseFigures("C1", "戊", "海勃湾区", False, None, None),
    ]
    r = region(rows)
    assert r["enterprise_count"] == 5
    assert r["cloud_rate"] == {"rate": 0.6, "count": 3, "of": 5}
    assert r["level_2_or_above"] == 2 and r["assessed"] == 3
    assert r["average_score"] == round((45 + 25 + 70) / 3, 2)
    assert [(d["district"], d["rank"], d["average_score"]) for d in r["districts"]] == [
        ("乌达区", 1, 70.0), ("海南区", 2, 35.0), ("海勃湾区", 3, None)]
    assert r["districts"][1]["cloud_rate"]["rate"] == 0.5 and r["districts"][1]["average_networking_rate"] == 0.25
    assert [(e["code"], e["rank"]) for e in r["enterprises"]] == [
        ("B1", 1), ("A1", 2), ("A2", 3), ("B2", None), ("C1", None)]
