"""`POST /ingest/status`: a gateway's status document over HTTP, for gateways without a broker.

The body is the retained MQTT status document of CONTRACTS §5 (`online`, `ts`, `devices`,
`dropped`); the gateway is the one the token belongs to. Stored exactly as the MQTT consumer
stores it (`telemetry.store.apply_status`), so an older document never overwrites a newer one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from platform_api.auth import Principal, note_access, require_roles
from platform_api.routes.common import WRITE_ERRORS
from platform_api.telemetry.store import StatusError, apply_status

router = APIRouter(tags=["telemetry"])


@router.post("/ingest/status", responses=WRITE_ERRORS)
def ingest_status(
    request: Request, body: dict[str, Any] = Body(...), p: Principal = Depends(require_roles("gateway"))
) -> dict[str, Any]:
    """Gateway online state, device up/down states and dropped batch ranges, as on the status topic."""
    assert p.enterprise and p.gateway
    note_access(request, [p.enterprise], "write")
    try:
        apply_status(request.app.state.engine, p.enterprise, p.gateway, body)
    except StatusError as e:
        raise HTTPException(422, str(e)) from None
    return {"ok": True}
