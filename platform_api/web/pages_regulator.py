"""The regulator's home: the district overview for a period, sortable, exportable, with the open
alarms of every enterprise in scope. Admins see the same page."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from platform_api.web import export, fmt, periods
from platform_api.web.apiclient import Api, PageError
from platform_api.web.i18n import translator
from platform_api.web.render import render
from platform_api.web.session import Session, current, language

router = APIRouter(include_in_schema=False)

SORT_KEYS = {"code", "name", "district", "kind", "production", "shipments", "sales", "closing_stock",
             "capacity_use", "anomalies", "alarms", "digitalization"}
NUMERIC = {"production", "shipments", "sales", "closing_stock", "capacity_use", "anomalies", "alarms",
           "digitalization"}
DISTRICTS = ("海勃湾区", "乌达区", "海南区")


def _regulator(session: Session) -> None:
    if session.principal.role not in ("regulator", "admin"):
        raise PageError(403, "only regulators and administrators see the district overview")


def sort_rows(rows: list[dict[str, Any]], key: str, desc: bool) -> list[dict[str, Any]]:
    """Sort by a column; rows without a figure go last either way."""
    if key not in SORT_KEYS:
        return rows

    def value(r: dict[str, Any]) -> Any:
        v = r.get(key)
        if key in NUMERIC:
            return fmt.total(v) if v is not None else None
        return str(v or "")

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    return sorted(present, key=value, reverse=desc) + missing


async def overview_rows(api: Api, period: str, district: str | None) -> list[dict[str, Any]]:
    """The API's overview rows, each marked `over_capacity` against its enterprise's thresholds."""
    rows, ents = await asyncio.gather(
        api.get("/regulator/overview", period=period, district=district),
        api.get("/enterprises", limit=10_000),
    )
    thresholds = {e["code"]: e.get("thresholds") for e in ents}
    for r in rows:
        r["over_capacity"] = periods.over_capacity(period, r.get("capacity_use"), thresholds.get(r["code"]))
        r["capacity_limit"] = periods.capacity_limit(period, thresholds.get(r["code"]))
    return list(rows)


def _params(request: Request, session: Session) -> tuple[str, str | None, str, bool]:
    q = request.query_params
    period = periods.valid_period(q.get("period"), periods.last_complete_month())
    district = session.principal.district or (q.get("district") or None)
    sort = str(q.get("sort")) if q.get("sort") in SORT_KEYS else "production"
    desc = q.get("dir", "desc") != "asc"
    return period, district, sort, desc


@router.get("/regulator")
async def regulator_home(request: Request, session: Session = Depends(current)) -> Response:
    _regulator(session)
    period, district, sort, desc = _params(request, session)
    async with Api(request, session.token) as api:
        rows, alarms = await asyncio.gather(
            overview_rows(api, period, district),
            api.get("/regulator/alarms", state="open", district=district, limit=50),
        )
    rows = sort_rows(rows, sort, desc)
    totals = {
        "enterprises": len(rows),
        "production": sum((fmt.total(r.get("production")) or Decimal(0) for r in rows), Decimal("0.000")),
        "over": sum(1 for r in rows if r["over_capacity"]),
        "anomalies": sum(r.get("anomalies") or 0 for r in rows),
        "alarms": len(alarms),
    }
    names = {r["code"]: r["name"] for r in rows}
    this = periods.month_of(periods.today())
    quick = [periods.add_months(this, -i) for i in range(0, 7)] + [this[:4], f"{this}-1旬"]
    return render(request, "regulator.html", session, period=period, district=district, sort=sort, desc=desc,
                  rows=rows, totals=totals, alarms=alarms, names=names, quick=quick, districts=DISTRICTS,
                  limited=session.principal.district, columns=export.COLUMNS)


@router.get("/regulator/overview.{ext}")
async def regulator_export(ext: str, request: Request, session: Session = Depends(current)) -> Response:
    _regulator(session)
    if ext not in ("csv", "xlsx"):
        raise PageError(404, f"no export as {ext} (allowed: csv, xlsx)")
    period, district, sort, desc = _params(request, session)
    async with Api(request, session.token) as api:
        rows = sort_rows(await overview_rows(api, period, district), sort, desc)
    _ = translator(language(request)[0])
    name = f"overview-{period}{'-' + district if district else ''}.{ext}"
    disposition = f"attachment; filename=\"overview-{period}.{ext}\"; filename*=UTF-8''{quote(name)}"
    if ext == "csv":
        return Response(export.to_csv(rows, _), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition})
    return Response(export.to_xlsx(rows, _, period),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": disposition})
