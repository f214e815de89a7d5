"""The 产运销存 ledger of one enterprise: entries, balance, period summary, verification, anomalies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from platform_api.auth import Scope, read_scope, write_scope
from platform_api.routes.common import ERRORS, WRITE_ERRORS, Limit, Offset, db_id, parse_time
from platform_api.schemas import EntryBody

router = APIRouter(tags=["ledger"])

KINDS = ("production", "washing", "transfer", "receipt", "shipment", "sale", "own_use", "stocktake", "reversal")
PERIOD = r"^(19|20|21)\d{2}(-(0[1-9]|1[0-2])(-([0-2]\d|3[01])(/[A-Za-z0-9_-]{1,40})?|-[123]旬)?)?$"


@router.post("/enterprises/{code}/ledger/entries", status_code=201, responses=WRITE_ERRORS)
def append_entry(
    request: Request, body: EntryBody, scope: Scope = Depends(write_scope)
) -> dict[str, Any]:
    """Append one entry (CONTRACTS §6/§7); answered with the stored entry incl. `id`, `hash`, `flags`."""
    entry = body.root
    data = entry.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["kind"] = entry.kind
    result: dict[str, Any] = request.app.state.ledger.append(scope.code, data, author=scope.author)
    return result


@router.get("/enterprises/{code}/ledger/entries", responses=ERRORS)
def list_entries(
    request: Request,
    from_: str | None = Query(None, alias="from", max_length=40),
    to: str | None = Query(None, max_length=40),
    kind: str | None = Query(None, pattern="^(" + "|".join(KINDS) + ")$"),
    limit: int = Limit,
    offset: int = Offset,
    scope: Scope = Depends(read_scope),
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = request.app.state.ledger.list_entries(
        scope.code,
        from_=parse_time(from_, "from") if from_ else None,
        to=parse_time(to, "to") if to else None,
        kind=kind, limit=limit, offset=offset,
    )
    return result


@router.get("/enterprises/{code}/ledger/entries/{entry_id}", responses=ERRORS)
def get_entry(request: Request, entry_id: int = db_id(), scope: Scope = Depends(read_scope)) -> dict[str, Any]:
    result: dict[str, Any] = request.app.state.ledger.get_entry(scope.code, entry_id)
    return result


@router.get("/enterprises/{code}/ledger/balance", responses=ERRORS)
def balance(
    request: Request, at: str | None = Query(None, max_length=40), scope: Scope = Depends(read_scope)
) -> list[dict[str, Any]]:
    """`[{"product", "stockpile", "tonnes"}]` counting entries dated strictly before `at`."""
    result: list[dict[str, Any]] = request.app.state.ledger.balance(
        scope.code, parse_time(at, "at") if at else None
    )
    return result


@router.get("/enterprises/{code}/ledger/summary", responses=ERRORS)
def summary(
    request: Request,
    period: str = Query(..., pattern=PERIOD, description="2026, 2026-11, 2026-11-2旬, 2026-11-03"),
    scope: Scope = Depends(read_scope),
) -> dict[str, Any]:
    result: dict[str, Any] = request.app.state.ledger.summary(scope.code, period)
    return result


@router.get("/enterprises/{code}/ledger/verify", responses=ERRORS)
def verify(request: Request, scope: Scope = Depends(read_scope)) -> dict[str, Any]:
    """Recompute the hash chain: `{"ok", "entries", "first_bad"}`."""
    result: dict[str, Any] = request.app.state.ledger.verify(scope.code)
    return result


@router.get("/enterprises/{code}/anomalies", responses=ERRORS)
def anomalies(
    request: Request,
    from_: str | None = Query(None, alias="from", max_length=40),
    to: str | None = Query(None, max_length=40),
    scope: Scope = Depends(read_scope),
) -> list[dict[str, Any]]:
    """`[{"code", "severity", "at", "entries", "detail", "figures"}]` with `from <= at < to`."""
    result: list[dict[str, Any]] = request.app.state.ledger.anomalies(
        scope.code,
        parse_time(from_, "from") if from_ else None,
        parse_time(to, "to") if to else None,
    )
    return result


@router.post("/enterprises/{code}/anomalies/run", responses=WRITE_ERRORS)
def run_anomalies(
    request: Request,
    from_: str | None = Query(None, alias="from", max_length=40),
    to: str | None = Query(None, max_length=40),
    scope: Scope = Depends(write_scope),
) -> dict[str, Any]:
    """Run the anomaly rules now (they also run daily); new findings are logged for regulators."""
    jobs = request.app.state.jobs
    found = jobs.run_anomalies(
        scope.code, parse_time(from_, "from") if from_ else None, parse_time(to, "to") if to else None
    )
    return {"anomalies": found["all"], "new": found["new"]}
