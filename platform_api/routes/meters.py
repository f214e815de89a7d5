"""Which telemetry tag measures what (belt-scale totalizers, power meters)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request

from platform_api.auth import Scope, read_scope, write_scope
from platform_api.routes.common import ERRORS, WRITE_ERRORS
from platform_api.schemas import MeterIn

router = APIRouter(tags=["meters"])


@router.put("/enterprises/{code}/meters", responses=WRITE_ERRORS)
def set_meters(
    request: Request, mapping: list[MeterIn] = Body(..., max_length=1000), scope: Scope = Depends(write_scope)
) -> list[dict[str, Any]]:
    """Replace the mapping; the scheduled job feeds the mapped tags' readings to the ledger."""
    keys = [(m.gateway, m.device, m.tag) for m in mapping]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise HTTPException(422, f"body: {'/'.join(dup)} is mapped twice (allowed: each tag once)")
    rows = [m.model_dump(mode="json", exclude_none=True) for m in mapping]
    result: list[dict[str, Any]] = request.app.state.ledger.set_meters(scope.code, rows)
    return result


@router.get("/enterprises/{code}/meters", responses=ERRORS)
def get_meters(request: Request, scope: Scope = Depends(read_scope)) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = request.app.state.ledger.get_meters(scope.code)
    return result


@router.get("/enterprises/{code}/meters/production", responses=ERRORS)
def meter_production(
    request: Request,
    from_: str | None = Query(None, alias="from", max_length=40),
    to: str | None = Query(None, max_length=40),
    scope: Scope = Depends(read_scope),
) -> list[dict[str, Any]]:
    """Per-shift metered totals, as derived from the readings fed so far."""
    from platform_api.routes.common import parse_time

    result: list[dict[str, Any]] = request.app.state.ledger.meter_production(
        scope.code, from_=parse_time(from_, "from") if from_ else None, to=parse_time(to, "to") if to else None
    )
    return result
