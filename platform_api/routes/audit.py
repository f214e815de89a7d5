"""Who read or wrote which enterprise's data."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from platform_api import db
from platform_api.auth import Principal, require_roles
from platform_api.routes.common import ERRORS, Limit, Offset

router = APIRouter(tags=["audit"])


@router.get("/audit", responses=ERRORS)
def audit_log(
    request: Request,
    enterprise: str | None = Query(None, max_length=64),
    limit: int = Limit,
    offset: int = Offset,
    p: Principal = Depends(require_roles("admin", "enterprise")),
) -> list[dict[str, Any]]:
    """Newest first. Admin sees everything; an enterprise sees who accessed its own data."""
    request.app.state.audit.flush()
    a = db.audit.c
    q = select(db.audit)
    if p.role == "enterprise":
        q = q.where(a.enterprise == p.enterprise)
    elif enterprise:
        q = q.where(a.enterprise == enterprise)
    with request.app.state.engine.connect() as conn:
        rows = conn.execute(q.order_by(a.id.desc()).limit(limit).offset(offset)).all()
    return [
        {"id": r.id, "at": (r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)).isoformat(), "subject": r.subject,
         "role": r.role, "method": r.method,
         "path": r.path, "enterprise": r.enterprise, "action": r.action, "status": r.status}
        for r in rows
    ]
