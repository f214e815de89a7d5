"""Fill an empty platform with the demo site: three enterprises, months of ledger history, device
registers with the profiles' alarm rules, meter mapping, digitalization answers, a day of
telemetry for the two enterprises without a live gateway, and login tokens.

History goes through the Ledger facade (every ledger rule applies); everything else through the
platform's own API with an admin token, so the demo data passes the same checks as real input.
"""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx: the client is used in-process only
    from fastapi.testclient import TestClient

from platform_api.auth import create_token
from platform_api.demo_data.history import COKING, MINE, WASHER, build_history, enterprises, month_start

SHANGHAI = ZoneInfo("Asia/Shanghai")
AUTHOR = "demo-seed"
MINE_GATEWAY = "gw-xt-01"
SEED_GATEWAYS = {WASHER: "gw-hy-01", COKING: "gw-hd-01"}

MINE_DEVICES: tuple[tuple[str, str, str], ...] = (
    # (device, profile, register name)
    ("belt_scale_main", "belt_scale", "主斜井皮带秤"),
    ("belt_scale_wash", "belt_scale", "入洗皮带秤"),
    ("truck_scale", "truck_scale", "100吨汽车衡"),
    ("methane_face", "methane_sensor", "工作面甲烷传感器"),
    ("co_face", "co_sensor", "工作面一氧化碳传感器"),
    ("dust_yard", "dust_monitor", "储煤场扬尘监测仪"),
    ("main_fan", "ventilation_fan", "主通风机"),
    ("drainage", "drainage_pump", "中央水泵房"),
    ("washer", "washing_plant", "重介洗选系统"),
    ("conveyor_plc", "conveyor_plc", "运输集控PLC"),
    ("power_meter", "power_meter", "35kV进线电能表"),
)
WASHER_DEVICES = (("washer", "washing_plant", "重介洗选系统"), ("belt_scale_in", "belt_scale", "原煤入厂皮带秤"))
COKING_DEVICES = (("co_oven", "co_sensor", "焦炉一氧化碳监测"), ("dust_yard", "dust_monitor", "煤场扬尘监测仪"))
MATURITY = {MINE: 0.75, WASHER: 0.5, COKING: 0.25}
"""Share of the best answer each enterprise gives in its self-assessment (levels 3, 2 and 1)."""


@dataclass
class DemoTokens:
    regulator: str
    district_regulator: str
    admin: str
    enterprises: dict[str, str]
    gateway: str
    names: dict[str, str] = field(default_factory=dict)


class SeedError(RuntimeError):
    """The platform refused demo data: a bug in the demo data, named with the call and the answer."""


class _Api:
    def __init__(self, app: FastAPI, token: str) -> None:
        self.client = TestClient(app, raise_server_exceptions=True)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None, token: str | None = None, ok: tuple[int, ...] = (200, 201)
             ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else self.headers
        r = self.client.request(method, "/api/v1" + path, json=body, headers=headers)
        if r.status_code not in ok:
            raise SeedError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None


def seed(app: FastAPI, *, today: date | None = None, months: int = 5, telemetry_hours: float = 24.0,
         rnd_seed: int = 1) -> DemoTokens:
    """Seed an empty platform; `months` of history before the current month plus this month so far."""
    engine = app.state.engine
    ledger = app.state.ledger
    today = today or datetime.now(SHANGHAI).date()
    admin = create_token(engine, "admin", label="demo admin")
    api = _Api(app, admin)
    for body in enterprises():
        api.call("POST", "/enterprises", body)
    hist = build_history(today, months=months, seed=rnd_seed)
    for code, stops in hist.stops.items():
        for s in stops:
            api.call("POST", f"/enterprises/{code}/stops", s)
    for code, entries in hist.entries.items():
        stored = ledger.append_many(code, entries, author=AUTHOR)
        for index, reason in hist.reversals.get(code, []):
            ledger.append(code, {"kind": "reversal", "reverses": stored[index]["id"], "reason": reason}, author=AUTHOR)
    for code in hist.entries:
        m = month_start(hist.first_day)
        while m < month_start(today, 2):  # the last two complete months stay open
            ledger.close_month(code, f"{m:%Y-%m}", author=AUTHOR)
            m = month_start(m + timedelta(days=32))

    tokens = DemoTokens(
        regulator=create_token(engine, "regulator", label="demo regulator"),
        district_regulator=create_token(engine, "regulator", district="海南区", label="demo regulator 海南区"),
        admin=admin,
        enterprises={code: create_token(engine, "enterprise", enterprise=code, label="demo enterprise")
                     for code in (MINE, WASHER, COKING)},
        gateway=create_token(engine, "gateway", enterprise=MINE, gateway=MINE_GATEWAY, label="demo gateway"),
        names={e["code"]: e["name"] for e in enterprises()},
    )
    _devices(api, MINE, MINE_GATEWAY, MINE_DEVICES)
    _devices(api, WASHER, SEED_GATEWAYS[WASHER], WASHER_DEVICES)
    _devices(api, COKING, SEED_GATEWAYS[COKING], COKING_DEVICES)
    api.call("PUT", f"/enterprises/{MINE}/meters", [
        {"gateway": MINE_GATEWAY, "device": "belt_scale_main", "tag": "total_t", "measures": "production",
         "product": "raw", "stockpile": "raw_yard"},
        {"gateway": MINE_GATEWAY, "device": "power_meter", "tag": "energy_kwh", "measures": "energy"},
    ])
    _digitalization(api, today.year)
    now = datetime.now(UTC)
    for code in (WASHER, COKING):
        gw_token = create_token(engine, "gateway", enterprise=code, gateway=SEED_GATEWAYS[code], label="demo seed")
        _telemetry(api, code, SEED_GATEWAYS[code], gw_token, now, telemetry_hours, random.Random(rnd_seed),
                   month_start(today, 1))
    return tokens


def _devices(api: _Api, code: str, gateway: str, devices: tuple[tuple[str, str, str], ...]) -> None:
    for device, profile, _name in devices:
        api.call("PUT", f"/enterprises/{code}/devices/{device}", {"gateway": gateway, "profile": profile})


def _register(devices: tuple[tuple[str, str, str], ...], gateway: str, extra: list[tuple[str, str, bool]]
              ) -> list[dict[str, Any]]:
    rows = [{"name": name, "kind": profile, "production": True, "digital": True, "gateway": gateway, "device": device}
            for device, profile, name in devices]
    rows += [{"name": name, "kind": kind, "production": True, "digital": digital} for name, kind, digital in extra]
    return rows


def _digitalization(api: _Api, year: int) -> None:
    api.call("PUT", f"/enterprises/{MINE}/devices", _register(MINE_DEVICES, MINE_GATEWAY, [
        ("采煤机", "shearer", True), ("液压支架", "hydraulic_support", True), ("破碎机", "crusher", False)]))
    api.call("PUT", f"/enterprises/{WASHER}/devices", _register(WASHER_DEVICES, SEED_GATEWAYS[WASHER], [
        ("跳汰机", "jig", False), ("压滤机", "filter_press", False), ("浓缩机", "thickener", False),
        ("原煤破碎机", "crusher", False)]))
    api.call("PUT", f"/enterprises/{COKING}/devices", _register(COKING_DEVICES, SEED_GATEWAYS[COKING], [
        ("1号焦炉", "coke_oven", True), ("推焦机", "pusher", False), ("熄焦车", "quench_car", False),
        ("粉碎机", "crusher", False), ("煤气净化装置", "gas_cleaning", False)]))
    api.call("PUT", f"/enterprises/{MINE}/key-processes", [
        {"name": "主运输", "control": "plc", "devices": ["运输集控PLC"]},
        {"name": "洗选", "control": "dcs", "devices": ["重介洗选系统"]},
        {"name": "通风", "control": "plc", "devices": ["主通风机"]}])
    q = api.call("GET", "/digitalization/questionnaire")
    for code, level in MATURITY.items():
        api.call("PUT", f"/enterprises/{code}/assessment?year={year}", _answers(q, level))


def _answers(q: dict[str, Any], level: float) -> dict[str, Any]:
    """Answers at a given maturity: the option nearest `level` of each choice, a share of each list."""
    answers: dict[str, Any] = {}
    for dim in q["dimensions"]:
        for item in dim["items"]:
            if item.get("measured"):
                continue  # measured from the equipment register and telemetry
            if item["kind"] == "choice":
                best = min(item["options"], key=lambda o: abs(float(o.get("fraction") or 0) - level))
                answers[item["id"]] = best["key"]
            elif item["kind"] == "multi":
                keys = [o["key"] for o in item["options"]]
                answers[item["id"]] = keys[: max(1, round(len(keys) * level))]
            elif item["kind"] == "rate":
                answers[item["id"]] = level
    scenarios = {s["id"]: max(0, min(4, round(level * 4))) for s in q.get("scenarios", {}).get("items", [])}
    return {"answers": answers, "scenarios": scenarios}


def _wave(t: float, period: float, lo: float, hi: float, noise: float, rnd: random.Random) -> float:
    mid, amp = (lo + hi) / 2, (hi - lo) / 2
    return round(mid + amp * math.sin(2 * math.pi * t / period) + rnd.gauss(0, noise), 3)


def _telemetry(api: _Api, code: str, gateway: str, token: str, now: datetime, hours: float,
               rnd: random.Random, last_month: date) -> None:
    """Five-minute samples for the last `hours`, plus two alarm episodes last month and one still
    active (CO above 24 ppm at the coking plant), posted as the gateway would."""
    seq = 0
    epoch = f"demo{code.lower()}"
    steps = max(1, int(hours * 12))
    start = now - timedelta(hours=hours)

    def post(device: str, samples: list[dict[str, Any]]) -> None:
        nonlocal seq
        seq += 1
        api.call("POST", "/ingest", {"gateway": gateway, "device": device, "epoch": epoch, "seq": seq,
                                     "samples": samples}, token=token)

    def sample(tag: str, value: Any, ts: datetime) -> dict[str, Any]:
        return {"tag": tag, "value": value, "quality": "good", "ts": ts.isoformat(timespec="milliseconds")}

    spike_at = datetime(last_month.year, last_month.month, 12, 14, 0, tzinfo=SHANGHAI)
    for i in range(3):
        ts = spike_at + timedelta(minutes=5 * i)
        if code == COKING:
            post("co_oven", [sample("co_ppm", [18.0, 31.5, 12.0][i], ts)])
        else:
            post("washer", [sample("clean_ash_pct", [10.2, 11.6, 9.9][i], ts)])
    points: dict[str, list[dict[str, Any]]] = {}

    def add(device: str, samples: list[dict[str, Any]]) -> None:
        points.setdefault(device, []).extend(samples)

    for i in range(steps + 1):
        ts = start + timedelta(minutes=5 * i)
        t = i * 300.0
        if code == COKING:
            co = _wave(t, 6 * 3600, 6, 14, 0.8, rnd) if i < steps - 2 else 26.0 + i - steps
            add("co_oven", [sample("co_ppm", co, ts), sample("alarm", co >= 24, ts)])
            add("dust_yard", [sample("pm25_ugm3", _wave(t, 86400, 22, 48, 3, rnd), ts),
                              sample("pm10_ugm3", _wave(t, 86400, 40, 95, 6, rnd), ts),
                              sample("tsp_ugm3", _wave(t, 86400, 120, 260, 15, rnd), ts)])
        else:
            feed = _wave(t, 8 * 3600, 520, 640, 12, rnd)
            add("washer", [sample("feed_tph", feed, ts), sample("clean_tph", round(feed * 0.55, 3), ts),
                           sample("clean_ash_pct", _wave(t, 4 * 3600, 9.2, 10.1, 0.15, rnd), ts),
                           sample("running", True, ts)])
            add("belt_scale_in", [sample("flow_tph", _wave(t, 8 * 3600, 510, 650, 15, rnd), ts),
                                  sample("total_t", round(1_250_000 + i * 48.5, 3), ts)])
    for device, samples in points.items():
        for k in range(0, len(samples), 2000):  # a few large batches: one transaction each
            post(device, samples[k:k + 2000])
