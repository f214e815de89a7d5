"""Enterprises, their declared stops and the monthly close (月结)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from platform_api.auth import (
    Principal,
    Scope,
    get_principal,
    in_scope,
    note_access,
    read_scope,
    require_roles,
    write_scope,
)
from platform_api.routes.common import ERRORS, WRITE_ERRORS, Limit, Offset
from platform_api.schemas import CloseIn, EnterpriseIn, EnterprisePatch, StopIn

router = APIRouter(tags=["enterprises"])


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


@router.post("/enterprises", status_code=201, responses=WRITE_ERRORS)
def create_enterprise(
    body: EnterpriseIn, request: Request, p: Principal = Depends(require_roles("admin"))
) -> dict[str, Any]:
    """Register an enterprise (admin only)."""
    note_access(request, [body.code], "write")
    result: dict[str, Any] = request.app.state.ledger.create_enterprise(_dump(body))
    return result


@router.get("/enterprises", responses=ERRORS)
def list_enterprises(
    request: Request,
    district: str | None = Query(None, max_length=64),
    kind: str | None = Query(None, max_length=40),
    limit: int = Limit,
    offset: int = Offset,
    p: Principal = Depends(require_roles("admin", "regulator", "enterprise")),
) -> list[dict[str, Any]]:
    """The enterprises this token may see: all (admin), its district (regulator), itself (enterprise)."""
    ledger = request.app.state.ledger
    if p.role == "enterprise":
        from mine_ledger import NotFound

        try:
            own = [ledger.get_enterprise(p.enterprise)]
        except NotFound:
            own = []
        rows = [
            e for e in own
            if (not district or e.get("district") == district) and (not kind or e.get("kind") == kind)
        ]
        rows = rows[offset : offset + limit]
    else:
        if p.role == "regulator" and p.district:
            if district and district != p.district:
                rows = []
            else:
                rows = ledger.list_enterprises(district=p.district, kind=kind, limit=limit, offset=offset)
        else:
            rows = ledger.list_enterprises(district=district, kind=kind, limit=limit, offset=offset)
        rows = [e for e in rows if in_scope(p, e)]
    note_access(request, [e["code"] for e in rows] or [None], "read")
    return rows


@router.get("/enterprises/{code}", responses=ERRORS)
def get_enterprise(scope: Scope = Depends(read_scope)) -> dict[str, Any]:
    return scope.enterprise


@router.patch("/enterprises/{code}", responses=WRITE_ERRORS)
def update_enterprise(
    code: str, body: EnterprisePatch, request: Request, p: Principal = Depends(get_principal)
) -> dict[str, Any]:
    """Change an enterprise's settings (admin only: night bans, shifts and the production source are
    the regulator's rules, not the enterprise's own choice)."""
    from platform_api.auth import authorize

    authorize(request, p, code, True, ("admin",))
    result: dict[str, Any] = request.app.state.ledger.update_enterprise(code, _dump(body))
    return result


@router.post("/enterprises/{code}/stops", status_code=201, responses=WRITE_ERRORS)
def add_stop(body: StopIn, request: Request, scope: Scope = Depends(write_scope)) -> dict[str, Any]:
    """Declare a production stop; production inside it is flagged `PRODUCTION_DURING_STOP`."""
    if body.to <= body.from_:
        raise HTTPException(422, "to: must be later than from")
    result: dict[str, Any] = request.app.state.ledger.add_stop(scope.code, _dump(body))
    return result


@router.get("/enterprises/{code}/stops", responses=ERRORS)
def list_stops(request: Request, scope: Scope = Depends(read_scope)) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = request.app.state.ledger.list_stops(scope.code)
    return result


@router.post("/enterprises/{code}/close", status_code=201, responses=WRITE_ERRORS)
def close_month(request: Request, body: CloseIn | None = None, scope: Scope = Depends(write_scope)) -> dict[str, Any]:
    """月结: close a month (default: the previous one); nothing dated in it is accepted afterwards."""
    month = body.month if body is not None else None
    result: dict[str, Any] = request.app.state.ledger.close_month(scope.code, month, author=scope.author)
    return result


@router.get("/enterprises/{code}/closes", responses=ERRORS)
def list_closes(request: Request, scope: Scope = Depends(read_scope)) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = request.app.state.ledger.list_closes(scope.code)
    return result
