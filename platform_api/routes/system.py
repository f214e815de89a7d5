"""Health and on-demand jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import text

from platform_api.auth import Principal, require_roles
from platform_api.routes.common import ERRORS

router = APIRouter(tags=["system"])


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    """No token needed: database reachable and the ingest worker's state (for load balancers)."""
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as e:
        database = f"error: {e.__class__.__name__}"
    consumer = request.app.state.consumer
    return {"ok": database == "ok", "database": database, "ingest": consumer.stats() if consumer else None}


@router.post("/jobs/run", responses=ERRORS)
def run_jobs(request: Request, p: Principal = Depends(require_roles("admin"))) -> dict[str, Any]:
    """Run the scheduled work now: feed meter readings to the ledger and run the anomaly rules."""
    result: dict[str, Any] = request.app.state.jobs.run_once(force_daily=True)
    return result
