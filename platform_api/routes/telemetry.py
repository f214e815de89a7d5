"""Telemetry of one enterprise (latest, history, gaps, gateways, devices) and `POST /ingest`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy import select

from platform_api import db
from platform_api.alarms import profiles
from platform_api.alarms import store as alarm_store
from platform_api.auth import Principal, Scope, note_access, read_scope, require_roles, write_scope
from platform_api.routes.common import ERRORS, WRITE_ERRORS, parse_step, parse_time, to_ms
from platform_api.schemas import DeviceIn, IngestIn, IngestOut, LatestOut
from platform_api.sqlutil import insert_for
from platform_api.telemetry import query
from platform_api.telemetry.batch import NAME_RE, BatchError, parse_batch
from platform_api.telemetry.store import now_ms, write_batches

router = APIRouter(tags=["telemetry"])


def _json(data: Any) -> Any:
    """Large answers (thousands of samples) serialized directly: the generic encoder would cost
    more than the query. The shapes are the documented ones."""
    return Response(orjson.dumps(data), media_type="application/json")


@router.get("/enterprises/{code}/telemetry/latest", response_model=list[LatestOut], responses=ERRORS)
def latest(
    request: Request, device: str | None = Query(None, max_length=64), scope: Scope = Depends(read_scope)
) -> list[dict[str, Any]]:
    """The newest sample of every tag (CONTRACTS §3 shape plus `gateway`)."""
    with request.app.state.engine.connect() as conn:
        return _json(query.latest(conn, scope.code, device))


@router.get("/enterprises/{code}/telemetry/history", responses=ERRORS)
def history(
    request: Request,
    device: str = Query(..., min_length=1, max_length=64),
    tag: str = Query(..., min_length=1, max_length=100),
    from_: str | None = Query(None, alias="from", max_length=40, description="default: `to` − 1 day"),
    to: str | None = Query(None, max_length=40, description="default: now"),
    step: str | None = Query(None, max_length=20, description="bucket width (30s, 5m, 1h, 1d): min/max/avg"),
    gateway: str | None = Query(None, max_length=64),
    limit: int = Query(10_000, ge=1, le=query.MAX_POINTS),
    scope: Scope = Depends(read_scope),
) -> dict[str, Any]:
    """Raw samples in `[from, to)`, or one `{ts, min, max, avg, count}` per `step` bucket."""
    end = parse_time(to, "to") if to else datetime.now(UTC)
    start = parse_time(from_, "from") if from_ else end - timedelta(days=1)
    step_ms = parse_step(step) if step else None
    try:
        with request.app.state.engine.connect() as conn:
            return _json(query.history(conn, scope.code, device, tag, to_ms(start), to_ms(end), step_ms, gateway,
                                       limit))
    except query.QueryError as e:
        raise HTTPException(422, str(e)) from None


@router.get("/enterprises/{code}/telemetry/gaps", responses=ERRORS)
def gaps(
    request: Request, gateway: str | None = Query(None, max_length=64), scope: Scope = Depends(read_scope)
) -> list[dict[str, Any]]:
    """Batches not received per gateway epoch: `missing` (lost or late) or `dropped` (announced)."""
    with request.app.state.engine.connect() as conn:
        return query.gaps(conn, scope.code, gateway)


@router.get("/enterprises/{code}/gateways", responses=ERRORS)
def gateways(request: Request, scope: Scope = Depends(read_scope)) -> list[dict[str, Any]]:
    """Gateways with their last status (online, device states, dropped batches)."""
    with request.app.state.engine.connect() as conn:
        return query.gateways(conn, scope.code)


@router.put("/enterprises/{code}/devices/{device}", responses=WRITE_ERRORS)
def register_device(
    device: str, body: DeviceIn, request: Request, scope: Scope = Depends(write_scope)
) -> dict[str, Any]:
    """Register a device with its profile; the profile's alarm levels become rules (existing rules of
    the same name are kept, so local changes survive)."""
    if not NAME_RE.match(device):
        raise HTTPException(422, f"device: {device!r} is not a name (allowed: letters, digits, _ . -)")
    added: list[int] = []
    thresholds = {}
    if body.profile:
        try:
            thresholds = profiles.thresholds(body.profile)
        except profiles.ProfileError as e:
            raise HTTPException(422, str(e)) from None
    with request.app.state.engine.begin() as conn:
        ins = insert_for(conn, db.devices)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["enterprise", "gateway", "device"], set_={"profile": ins.excluded.profile}
            ),
            [{"enterprise": scope.code, "gateway": body.gateway, "device": device, "profile": body.profile,
              "first_seen": now_ms()}],
        )
        for tag, levels in thresholds.items():
            for t in levels:
                if alarm_store.find_rule(conn, scope.code, device, tag, t.name) is None:
                    added.append(alarm_store.add_rule(
                        conn, scope.code,
                        {"device": device, "tag": tag, "name": t.name, "severity": t.severity, "above": t.above,
                         "below": t.below, "clear": t.clear, "delay": t.delay},
                        source=f"profile:{body.profile}",
                    ))
        row = conn.execute(
            select(db.devices).where(
                db.devices.c.enterprise == scope.code, db.devices.c.gateway == body.gateway,
                db.devices.c.device == device,
            )
        ).one()
    return {"gateway": row.gateway, "device": row.device, "profile": row.profile, "rules_added": added}


@router.post("/ingest", response_model=IngestOut, responses=WRITE_ERRORS)
def ingest(
    body: IngestIn, request: Request, p: Principal = Depends(require_roles("gateway"))
) -> dict[str, Any]:
    """One batch as on MQTT (CONTRACTS §5), from the gateway the token belongs to; a batch already
    received (same epoch and seq) is acknowledged as a duplicate and changes nothing."""
    assert p.enterprise and p.gateway
    note_access(request, [p.enterprise], "write")
    if body.gateway != p.gateway:
        raise HTTPException(403, f"gateway: this token belongs to gateway {p.gateway!r}, not {body.gateway!r}")
    try:
        batch = parse_batch(body.model_dump(mode="json"), p.enterprise, p.gateway, now_ms=now_ms())
    except BatchError as e:
        raise HTTPException(422, str(e)) from None
    res = write_batches(request.app.state.engine, [batch])
    if res.accepted and request.app.state.influx is not None:
        request.app.state.influx.send([batch])
    return {
        "accepted": res.accepted == 1, "duplicate": res.duplicates == 1, "samples": res.samples,
        "gaps": [{"epoch": g.epoch, "first_seq": g.first_seq, "last_seq": g.last_seq} for g in res.gaps],
    }
