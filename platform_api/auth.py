"""Bearer tokens, roles and the one place that decides who may read or write which enterprise.

Rules (CONTRACTS §7): a missing or wrong token is 401; another enterprise's data is 404 (its
existence is never revealed); a role that may not do something is 403. Every decision about an
enterprise is noted for the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import Depends, HTTPException, Request
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from platform_api import db

Role = Literal["admin", "regulator", "enterprise", "gateway"]
ROLES: tuple[Role, ...] = ("admin", "regulator", "enterprise", "gateway")
TOKEN_PREFIX = "mgt_"


class TokenSpecError(ValueError):
    """A token request that does not fit its role (e.g. an enterprise token without an enterprise)."""


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: int
    role: Role
    enterprise: str | None = None
    gateway: str | None = None
    district: str | None = None

    @property
    def subject(self) -> str:
        scope = self.enterprise or self.district or ""
        if self.gateway:
            scope += f"/{self.gateway}"
        return f"{self.role}:{scope}#{self.token_id}" if scope else f"{self.role}#{self.token_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_token_spec(role: str, enterprise: str | None, gateway: str | None, district: str | None) -> None:
    if role not in ROLES:
        raise TokenSpecError(f"role: {role!r} is not a role (allowed: {', '.join(ROLES)})")
    if role == "enterprise" and not enterprise:
        raise TokenSpecError("enterprise: an enterprise token needs --enterprise CODE")
    if role == "gateway" and not (enterprise and gateway):
        raise TokenSpecError("gateway: a gateway token needs --enterprise CODE and --gateway ID")
    if role in ("admin", "regulator") and (enterprise or gateway):
        raise TokenSpecError(f"enterprise: a {role} token is not bound to an enterprise or gateway")
    if role != "regulator" and district:
        raise TokenSpecError("district: only a regulator token may be limited to a district")
    if role != "gateway" and gateway:
        raise TokenSpecError("gateway: only a gateway token names a gateway")


def create_token(
    engine: Engine,
    role: str,
    *,
    enterprise: str | None = None,
    gateway: str | None = None,
    district: str | None = None,
    label: str | None = None,
) -> str:
    """Make a token; only its SHA-256 is stored, so it is shown once. A gateway token is also that
    gateway's MQTT password (its broker hash is stored for `broker-acl`)."""
    check_token_spec(role, enterprise, gateway, district)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(db.tokens).values(
                token_hash=hash_token(token), role=role, enterprise=enterprise, gateway=gateway,
                district=district, label=label, created_at=now,
            )
        )
        if role == "gateway":
            from platform_api.broker_acl import mosquitto_hash

            assert enterprise and gateway
            pw = mosquitto_hash(token)
            found = conn.execute(
                select(db.gateways.c.gateway).where(
                    db.gateways.c.enterprise == enterprise, db.gateways.c.gateway == gateway
                )
            ).first()
            if found:
                conn.execute(
                    update(db.gateways)
                    .where(db.gateways.c.enterprise == enterprise, db.gateways.c.gateway == gateway)
                    .values(mqtt_password_hash=pw)
                )
            else:
                conn.execute(
                    insert(db.gateways).values(
                        enterprise=enterprise, gateway=gateway, mqtt_password_hash=pw, created_at=now
                    )
                )
    return token


def revoke_token(engine: Engine, token_id: int) -> bool:
    with engine.begin() as conn:
        res = conn.execute(
            update(db.tokens)
            .where(db.tokens.c.id == token_id, db.tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return bool(res.rowcount)


class TokenCache:
    """Token lookups cached for a few seconds: every request authenticates, most with the same token."""

    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, token: str) -> Principal | None:
        h = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(h)
        if hit and hit[0] > now:
            return hit[1]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(db.tokens).where(db.tokens.c.token_hash == h, db.tokens.c.revoked_at.is_(None))
            ).first()
        p = (
            Principal(row.id, row.role, row.enterprise, row.gateway, row.district)
            if row is not None
            else None
        )
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[h] = (now + self.ttl, p)
        return p

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


class AuditLog:
    """Buffers audit rows in memory and writes them in batches, off the request path."""

    def __init__(self, engine: Engine, enabled: bool = True) -> None:
        self.engine = engine
        self.enabled = enabled
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(
        self, p: Principal | None, method: str, path: str, enterprises: list[str | None], action: str,
        status: int,
    ) -> None:
        if not self.enabled:
            return
        now = datetime.now(UTC)
        rows = [
            {
                "at": now, "token_id": p.token_id if p else None, "role": p.role if p else None,
                "subject": p.subject if p else None, "method": method, "path": path[:500],
                "enterprise": e, "action": action, "status": status,
            }
            for e in enterprises
        ]
        with self._lock:
            self._rows.extend(rows)

    def flush(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(db.audit), rows)
        return len(rows)


# -- FastAPI dependencies -----------------------------------------------------------------------


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def get_principal(request: Request) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("missing Authorization header (expected: Bearer <token>)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization must be 'Bearer <token>'")
    p: Principal | None = request.app.state.tokens.lookup(token.strip())
    if p is None:
        raise _unauthorized("invalid or revoked token")
    request.state.principal = p
    return p


def note_access(request: Request, enterprises: list[str | None], action: str) -> None:
    """Tell the audit middleware which enterprises this request reads or writes."""
    request.state.audit = (enterprises, action)


def require_roles(*roles: Role) -> Any:
    def dep(request: Request, p: Principal = Depends(get_principal)) -> Principal:
        if p.role not in roles:
            note_access(request, [p.enterprise], "denied")
            raise HTTPException(403, f"role {p.role} may not do this (allowed: {', '.join(roles)})")
        return p

    return dep


@dataclass(frozen=True, slots=True)
class Scope:
    """An authorised request on one enterprise: who, which enterprise, and the enterprise itself."""

    principal: Principal
    code: str
    enterprise: dict[str, Any]

    @property
    def author(self) -> str:
        return self.principal.subject


def _not_found(code: str) -> HTTPException:
    return HTTPException(404, f"enterprise {code} not found")


def authorize(request: Request, p: Principal, code: str, write: bool, roles: tuple[Role, ...]) -> Scope:
    """Decide one request on enterprise `code`; the order of checks never leaks existence."""
    note_access(request, [code], "write" if write else "read")
    if p.role not in roles:
        raise HTTPException(403, f"role {p.role} may not do this (allowed: {', '.join(roles)})")
    if p.role == "enterprise" and p.enterprise != code:
        raise _not_found(code)
    ledger = request.app.state.ledger
    from mine_ledger import NotFound

    try:
        ent = ledger.get_enterprise(code)
    except NotFound:
        raise _not_found(code) from None
    if p.role == "regulator" and p.district and ent.get("district") != p.district:
        raise _not_found(code)
    return Scope(p, code, ent)


def reader(*extra: Role) -> Any:
    """Dependency: admin, regulator (in district) and the enterprise itself may read."""
    roles: tuple[Role, ...] = ("admin", "regulator", "enterprise", *extra)

    def dep(code: str, request: Request, p: Principal = Depends(get_principal)) -> Scope:
        return authorize(request, p, code, False, roles)

    return dep


def writer() -> Any:
    """Dependency: admin and the enterprise itself may write; regulators only read (403)."""

    def dep(code: str, request: Request, p: Principal = Depends(get_principal)) -> Scope:
        return authorize(request, p, code, True, ("admin", "enterprise"))

    return dep


read_scope = reader()
write_scope = writer()


def in_scope(p: Principal, enterprise: dict[str, Any]) -> bool:
    """Whether a listing shows this enterprise to this principal."""
    if p.role == "admin":
        return True
    if p.role == "regulator":
        return not p.district or enterprise.get("district") == p.district
    if p.role == "enterprise":
        return enterprise.get("code") == p.enterprise
    return False
