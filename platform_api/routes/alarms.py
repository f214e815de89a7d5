"""Alarm rules and alarms of one enterprise."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.exc import IntegrityError

from platform_api.alarms import profiles
from platform_api.alarms import store as alarm_store
from platform_api.auth import Scope, read_scope, write_scope
from platform_api.routes.common import ERRORS, WRITE_ERRORS, Limit, Offset, db_id, parse_time, to_ms
from platform_api.schemas import AckIn, AlarmOut, ProfileRulesIn, RuleIn, RuleOut

router = APIRouter(tags=["alarms"])

STATE = Query(None, pattern="^(active|acknowledged|cleared|open)$", description="`open` = active or acknowledged")


@router.get("/enterprises/{code}/alarms", response_model=list[AlarmOut], responses=ERRORS)
def list_alarms(
    request: Request,
    state: str | None = STATE,
    device: str | None = Query(None, max_length=64),
    from_: str | None = Query(None, alias="from", max_length=40),
    to: str | None = Query(None, max_length=40),
    limit: int = Limit,
    offset: int = Offset,
    scope: Scope = Depends(read_scope),
) -> list[dict[str, Any]]:
    """Newest first; `from`/`to` select by the time the alarm was raised."""
    with request.app.state.engine.connect() as conn:
        return alarm_store.list_alarms(
            conn, [scope.code], state=state, device=device,
            from_ms=to_ms(parse_time(from_, "from")) if from_ else None,
            to_ms=to_ms(parse_time(to, "to")) if to else None, limit=limit, offset=offset,
        )


@router.post("/enterprises/{code}/alarms/{alarm_id}/acknowledge", response_model=AlarmOut, responses=WRITE_ERRORS)
def acknowledge(
    request: Request, alarm_id: int = db_id(), body: AckIn | None = None, scope: Scope = Depends(write_scope)
) -> dict[str, Any]:
    """active → acknowledged (a cleared alarm stays cleared but records who saw it)."""
    out = alarm_store.acknowledge(
        request.app.state.engine, scope.code, alarm_id, scope.author, body.note if body else None
    )
    if out is None:
        raise HTTPException(404, f"alarm {alarm_id} not found")
    return out


@router.get("/enterprises/{code}/alarms/rules", response_model=list[RuleOut], responses=ERRORS)
def list_rules(
    request: Request, device: str | None = Query(None, max_length=64), scope: Scope = Depends(read_scope)
) -> list[dict[str, Any]]:
    with request.app.state.engine.connect() as conn:
        return alarm_store.list_rules(conn, scope.code, device)


def _rule_or_422(fn: Any) -> Any:
    try:
        return fn()
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    except IntegrityError:
        raise HTTPException(409, "name: a rule of this name exists for this device tag") from None


@router.post("/enterprises/{code}/alarms/rules", status_code=201, response_model=RuleOut, responses=WRITE_ERRORS)
def add_rule(body: RuleIn, request: Request, scope: Scope = Depends(write_scope)) -> dict[str, Any]:
    """A threshold rule: `above`/`below` trigger, `clear` the hysteresis level, `delay` seconds."""
    def do() -> dict[str, Any]:
        with request.app.state.engine.begin() as conn:
            rid = alarm_store.add_rule(conn, scope.code, body.model_dump())
            return alarm_store.rule_dict(alarm_store.get_rule(conn, scope.code, rid))

    result: dict[str, Any] = _rule_or_422(do)
    return result


@router.put("/enterprises/{code}/alarms/rules/{rule_id}", response_model=RuleOut, responses=WRITE_ERRORS)
def replace_rule(
    body: RuleIn, request: Request, rule_id: int = db_id(), scope: Scope = Depends(write_scope)
) -> dict[str, Any]:
    """Change a rule; an open alarm of it is cleared and evaluation restarts with the new levels."""
    def do() -> dict[str, Any]:
        with request.app.state.engine.begin() as conn:
            if alarm_store.get_rule(conn, scope.code, rule_id) is None:
                raise HTTPException(404, f"rule {rule_id} not found")
            alarm_store.replace_rule(conn, scope.code, rule_id, body.model_dump())
            return alarm_store.rule_dict(alarm_store.get_rule(conn, scope.code, rule_id))

    result: dict[str, Any] = _rule_or_422(do)
    return result


@router.delete("/enterprises/{code}/alarms/rules/{rule_id}", status_code=204, responses=WRITE_ERRORS)
def delete_rule(request: Request, rule_id: int = db_id(), scope: Scope = Depends(write_scope)) -> None:
    with request.app.state.engine.begin() as conn:
        if alarm_store.get_rule(conn, scope.code, rule_id) is None:
            raise HTTPException(404, f"rule {rule_id} not found")
        alarm_store.delete_rule(conn, rule_id)


@router.post(
    "/enterprises/{code}/alarms/rules/from-profile", status_code=201, response_model=list[RuleOut],
    responses=WRITE_ERRORS,
)
def rules_from_profile(
    body: ProfileRulesIn, request: Request, scope: Scope = Depends(write_scope)
) -> list[dict[str, Any]]:
    """Load a device profile's default alarm levels as rules of one device (existing names are kept)."""
    try:
        thresholds = profiles.thresholds(body.profile)
    except profiles.ProfileError as e:
        raise HTTPException(422, str(e)) from None
    out = []
    with request.app.state.engine.begin() as conn:
        for tag, levels in thresholds.items():
            for t in levels:
                if alarm_store.find_rule(conn, scope.code, body.device, tag, t.name) is not None:
                    continue
                data = {"device": body.device, "tag": tag, "name": t.name, "severity": t.severity,
                        "above": t.above, "below": t.below, "clear": t.clear, "delay": t.delay}
                try:
                    rid = alarm_store.add_rule(conn, scope.code, data, source=f"profile:{body.profile}")
                except ValueError as e:
                    raise HTTPException(422, f"profile {body.profile}: tag {tag}: {e}") from None
                out.append(alarm_store.rule_dict(alarm_store.get_rule(conn, scope.code, rid)))
    return out
