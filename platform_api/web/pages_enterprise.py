"""One enterprise: its 产运销存 ledger by day/旬/month with the balance chart, the entries with their
hashes and the chain check, anomalies with the entries involved, and live telemetry.

Regulators, administrators and the enterprise itself see these pages; which enterprise a user
may see is the API's answer (another enterprise's page is the API's 404)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from platform_api.web import fmt, periods, svg
from platform_api.web.apiclient import Api
from platform_api.web.i18n import translator
from platform_api.web.render import render
from platform_api.web.session import Session, current, language

router = APIRouter(include_in_schema=False)

KINDS = ("production", "washing", "transfer", "receipt", "shipment", "sale", "own_use", "stocktake", "reversal")
PAGE = 50
RANGES = {"15m": (timedelta(minutes=15), None), "1h": (timedelta(hours=1), "30s"),
          "6h": (timedelta(hours=6), "5m"), "24h": (timedelta(hours=24), "15m"), "7d": (timedelta(days=7), "1h")}
COLORS = {"production": "#2f6fb3", "shipments": "#e0892b", "closing": "#2e9e5b"}


async def enterprise_of(api: Api, code: str) -> dict[str, Any]:
    ent: dict[str, Any] = await api.get(f"/enterprises/{quote(code)}")
    return ent


def ctx(session: Session, ent: dict[str, Any], tab: str) -> dict[str, Any]:
    shifts = {str(s.get("name")): str(s.get("label") or s.get("name")) for s in ent.get("shifts") or []}
    return {"ent": ent, "tab": tab, "base": f"/e/{quote(ent['code'])}", "shift_names": shifts}


@router.get("/e/{code}")
def enterprise_home(code: str, session: Session = Depends(current)) -> RedirectResponse:
    return RedirectResponse(f"/e/{quote(code)}/ledger", status_code=303)


# -- ledger ------------------------------------------------------------------------------------------


@router.get("/e/{code}/ledger")
async def ledger_page(code: str, request: Request, session: Session = Depends(current)) -> Response:
    q = request.query_params
    by = str(q.get("by")) if q.get("by") in periods.BY else "month"
    month = periods.valid_month(q.get("month"), periods.month_of(periods.today()))
    _ = translator(language(request)[0])
    path = f"/enterprises/{quote(code)}"
    async with Api(request, session.token) as api:
        ent = await enterprise_of(api, code)
        wanted = periods.buckets(by, month)
        summaries, balance = await asyncio.gather(
            asyncio.gather(*(api.get(f"{path}/ledger/summary", period=p) for p, _label in wanted)),
            api.get(f"{path}/ledger/balance"),
        )
    rows = []
    for (period, label), s in zip(wanted, summaries, strict=True):
        rows.append({"period": period, "label": label, "s": s,
                     "over": periods.over_capacity(period, s.get("capacity_use"), ent.get("thresholds"))})
    labels = [r["label"] for r in rows]

    def series(key: str) -> list[float | None]:
        return [float(fmt.total(r["s"].get(key)) or 0) for r in rows]

    chart = svg.bars_and_line(
        labels,
        [svg.Series(_("production"), series("production"), COLORS["production"]),
         svg.Series(_("shipments"), series("shipments"), COLORS["shipments"])],
        svg.Series(_("closing stock"), series("closing"), COLORS["closing"]),
        title=_("Production, shipments and closing stock"), unit=_("Tonnes"),
    )
    last = rows[-1]["s"] if rows else {}
    products = sorted(set(last.get("closing", {})) | set(last.get("opening", {})))
    return render(request, "ledger.html", session, **ctx(session, ent, "ledger"), by=by, month=month, rows=rows,
                  chart=chart, balance=balance, last=last, products=products,
                  months=[periods.add_months(periods.month_of(periods.today()), -i) for i in range(12)])


# -- entries -----------------------------------------------------------------------------------------


@router.get("/e/{code}/entries")
async def entries_page(code: str, request: Request, session: Session = Depends(current)) -> Response:
    q = request.query_params
    month = periods.valid_month(q.get("month"), periods.month_of(periods.today()))
    start, end = periods.bounds(month)
    start, end = q.get("from") or start, q.get("to") or end
    kind = q.get("kind") if q.get("kind") in KINDS else None
    try:
        offset = max(0, int(q.get("offset", "0")))
    except ValueError:
        offset = 0
    highlight = {int(x) for x in q.get("ids", "").split(",") if x.strip().isdigit()}
    path = f"/enterprises/{quote(code)}"
    async with Api(request, session.token) as api:
        ent = await enterprise_of(api, code)
        entries, verify = await asyncio.gather(
            api.get(f"{path}/ledger/entries", **{"from": start, "to": end, "kind": kind, "limit": PAGE,
                                                 "offset": offset}),
            api.get(f"{path}/ledger/verify") if q.get("verify") else asyncio.sleep(0, None),
        )
    return render(request, "entries.html", session, **ctx(session, ent, "entries"), entries=entries, month=month,
                  start=start, end=end, kind=kind, kinds=KINDS, offset=offset, page=PAGE, verify=verify,
                  highlight=highlight, months=[periods.add_months(periods.month_of(periods.today()), -i)
                                               for i in range(12)])


# -- anomalies ---------------------------------------------------------------------------------------


@router.get("/e/{code}/anomalies")
async def anomalies_page(code: str, request: Request, session: Session = Depends(current)) -> Response:
    q = request.query_params
    this = periods.month_of(periods.today())
    start = q.get("from") or periods.bounds(periods.add_months(this, -3))[0]
    end = q.get("to") or f"{periods.day_after(periods.today()):%Y-%m-%d}"
    path = f"/enterprises/{quote(code)}"
    async with Api(request, session.token) as api:
        ent = await enterprise_of(api, code)
        found = await api.get(f"{path}/anomalies", **{"from": start, "to": end})
        ids = sorted({i for a in found for i in a.get("entries", [])[:6]})
        fetched = await asyncio.gather(*(api.get_or(None, f"{path}/ledger/entries/{i}") for i in ids))
    by_id = {e["id"]: e for e in fetched if e}
    found = sorted(found, key=lambda a: a.get("at") or "", reverse=True)
    return render(request, "anomalies.html", session, **ctx(session, ent, "anomalies"), anomalies=found,
                  by_id=by_id, start=start, end=end)


# -- live --------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def profile_units(profile: str) -> dict[str, tuple[str, str]]:
    """tag -> (unit, description) from a device profile; empty when the profile is unknown."""
    try:
        from devices.profiles import profile_tags

        return {str(t["name"]): (str(t.get("unit") or ""), str(t.get("description") or ""))
                for t in profile_tags(profile) if t.get("name")}
    except Exception:
        return {}


async def live_data(request: Request, session: Session, code: str) -> dict[str, Any]:
    q = request.query_params
    rng = str(q.get("range")) if q.get("range") in RANGES else "1h"
    path = f"/enterprises/{quote(code)}"
    async with Api(request, session.token) as api:
        ent = await enterprise_of(api, code)
        devices, gateways, latest, alarms = await asyncio.gather(
            api.get(f"{path}/devices"), api.get(f"{path}/gateways"), api.get(f"{path}/telemetry/latest"),
            api.get(f"{path}/alarms", state="open", limit=100),
        )
        # default trend: the numeric tag reported most recently (report-by-change: one that moves)
        numeric = sorted((s for s in latest if isinstance(s.get("value"), (int, float))
                          and not isinstance(s["value"], bool)), key=lambda s: s.get("ts") or "", reverse=True)
        device, tag = q.get("device"), q.get("tag")
        if not any(s["device"] == device and s["tag"] == tag for s in latest) and numeric:
            device, tag = numeric[0]["device"], numeric[0]["tag"]
        trend = None
        if device and tag:
            span, step = RANGES[rng]
            end = datetime.now(fmt.SHANGHAI)
            trend = await api.get(f"{path}/telemetry/history", device=device, tag=tag,
                                  **{"from": (end - span).isoformat(timespec="seconds"),
                                     "to": (end + timedelta(seconds=1)).isoformat(timespec="seconds"),
                                     "step": step, "limit": 5000})
    profiles = {d["device"]: d.get("profile") for d in devices if d.get("device")}
    by_device: dict[str, list[dict[str, Any]]] = {}
    for s in latest:
        unit, desc = profile_units(profiles.get(s["device"]) or "").get(s["tag"], ("", ""))
        by_device.setdefault(s["device"], []).append({**s, "unit": unit, "description": desc})
    seen = [d for d in devices if d.get("device")]
    for d in seen:
        samples = by_device.get(d["device"], [])
        d["last_ts"] = max((s["ts"] for s in samples if s.get("ts")), default=None)
        d["bad"] = sum(1 for s in samples if s.get("quality") == "bad")
        d["tags"] = len(samples)
    chart = ""
    if trend is not None:
        _ = translator(language(request)[0])
        unit = profile_units(profiles.get(device or "") or "").get(tag or "", ("", ""))[0]
        start = fmt.parse_time(trend.get("from"))
        stop = fmt.parse_time(trend.get("to"))
        pts = trend.get("points", [])
        if trend.get("step") is None:
            line = [(fmt.parse_time(p["ts"]), float(p["value"])) for p in pts
                    if isinstance(p.get("value"), (int, float)) and not isinstance(p["value"], bool)]
            band: list[tuple[datetime, float, float]] = []
        else:
            line = [(fmt.parse_time(p["ts"]), float(p["avg"])) for p in pts if p.get("avg") is not None]
            band = [(t, float(p["min"]), float(p["max"])) for p in pts
                    if p.get("min") is not None and (t := fmt.parse_time(p["ts"])) is not None]
        chart = svg.time_series(
            [(t.astimezone(fmt.SHANGHAI), v) for t, v in line if t is not None],
            band=[(t.astimezone(fmt.SHANGHAI), lo, hi) for t, lo, hi in band],
            title=f"{device} · {tag}", unit=unit,
            start=start.astimezone(fmt.SHANGHAI) if start else None,
            end=stop.astimezone(fmt.SHANGHAI) if stop else None,
            tz_label="%m-%d %H:%M" if rng == "7d" else "%H:%M",
        )
    return {**ctx(session, ent, "live"), "devices": seen, "gateways": gateways, "by_device": by_device,
            "alarms": alarms, "device": device, "tag": tag, "range": rng, "ranges": list(RANGES), "chart": chart,
            "now": datetime.now(fmt.SHANGHAI), "trend": trend}


@router.get("/e/{code}/live")
async def live_page(code: str, request: Request, session: Session = Depends(current)) -> Response:
    return render(request, "live.html", session, **await live_data(request, session, code))


@router.get("/e/{code}/live/part")
async def live_part(code: str, request: Request, session: Session = Depends(current)) -> Response:
    """The refreshing part of the live page (the page's script swaps it in every few seconds)."""
    response = render(request, "live_part.html", session, **await live_data(request, session, code))
    response.headers["Cache-Control"] = "no-store"
    return response
