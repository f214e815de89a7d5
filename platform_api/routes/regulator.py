"""Views across enterprises for regulators: the period overview and open alarms."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from mine_ledger import LedgerError
from platform_api.alarms import store as alarm_store
from platform_api.auth import Principal, note_access, require_roles
from platform_api.routes.common import ERRORS, Limit, Offset, parse_time, to_ms
from platform_api.routes.ledger_routes import PERIOD
from platform_api.schemas import AlarmOut, OverviewRow

router = APIRouter(tags=["regulator"])


def _scope_enterprises(request: Request, p: Principal, district: str | None) -> list[dict[str, Any]]:
    if p.role == "regulator" and p.district:
        if district and district != p.district:
            return []
        district = p.district
    ledger = request.app.state.ledger
    out: list[dict[str, Any]] = []
    while True:
        page = ledger.list_enterprises(district=district, limit=500, offset=len(out))
        out += page
        if len(page) < 500:
            return out


def _total(d: Any) -> Decimal | None:
    if isinstance(d, dict):
        return sum((Decimal(str(v)) for v in d.values() if v is not None), Decimal("0.000"))
    if d is None:
        return None
    return Decimal(str(d))


def _fmt(d: Decimal | None) -> str | None:
    return None if d is None else f"{d:.3f}"


@router.get("/regulator/overview", response_model=list[OverviewRow], responses=ERRORS)
def overview(
    request: Request,
    period: str = Query(..., pattern=PERIOD, description="2026, 2026-11, 2026-11-2旬, 2026-11-03"),
    district: str | None = Query(None, max_length=64),
    p: Principal = Depends(require_roles("admin", "regulator")),
) -> list[dict[str, Any]]:
    """One row per enterprise in scope: production (raw t), shipments, sales, closing stock (t),
    capacity use, anomaly count, alarm count, digitalization level (null until assessed)."""
    ledger = request.app.state.ledger
    enterprises = _scope_enterprises(request, p, district)
    note_access(request, [e["code"] for e in enterprises] or [None], "read")
    summaries = [(e, ledger.summary(e["code"], period)) for e in enterprises]
    alarm_counts: dict[str, int] = {}
    if summaries:
        s0 = summaries[0][1]
        with request.app.state.engine.connect() as conn:
            alarm_counts = alarm_store.count_alarms(
                conn, [e["code"] for e in enterprises],
                to_ms(parse_time(s0["from"], "from")), to_ms(parse_time(s0["to"], "to")),
            )
    rows = []
    for e, s in summaries:
        code = e["code"]
        try:
            n_anomalies: int | None = len(
                ledger.anomalies(code, parse_time(s["from"], "from"), parse_time(s["to"], "to"))
            )
        except (LedgerError, NotImplementedError):
            n_anomalies = None
        rows.append({
            "code": code, "name": e.get("name"), "district": e.get("district"), "kind": e.get("kind"),
            "period": s.get("period", period), "production": _fmt(_total(s.get("production"))),
            "shipments": _fmt(_total(s.get("shipments"))), "sales": _fmt(_total(s.get("sales"))),
            "closing_stock": _fmt(_total(s.get("closing"))), "capacity_use": s.get("capacity_use"),
            "anomalies": n_anomalies, "alarms": alarm_counts.get(code, 0),
            "digitalization": request.app.state.digitalization(code, period),
        })
    return rows


@router.get("/regulator/alarms", response_model=list[AlarmOut], responses=ERRORS)
def alarms(
    request: Request,
    district: str | None = Query(None, max_length=64),
    state: str | None = Query(None, pattern="^(active|acknowledged|cleared|open)$"),
    from_: str | None = Query(None, alias="from", max_length=40),
    to: str | None = Query(None, max_length=40),
    limit: int = Limit,
    offset: int = Offset,
    p: Principal = Depends(require_roles("admin", "regulator")),
) -> list[dict[str, Any]]:
    """Alarms of every enterprise in scope, newest first."""
    codes = [e["code"] for e in _scope_enterprises(request, p, district)]
    note_access(request, codes or [None], "read")
    if not codes:
        return []
    f = to_ms(parse_time(from_, "from")) if from_ else None
    t = to_ms(parse_time(to, "to")) if to else None
    with request.app.state.engine.connect() as conn:
        return alarm_store.list_alarms(conn, codes, state=state, from_ms=f, to_ms=t, limit=limit, offset=offset)
