"""Alarm rules, their evaluation state and the alarms raised, in the platform tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from devices.model import iso_ms
from platform_api import db
from platform_api.alarms.engine import Event, Rule, State, step, tick
from platform_api.sqlutil import for_update, insert_for

STATES = ("active", "acknowledged", "cleared")
OPEN_STATES = ("active", "acknowledged")

SampleRow = tuple[str, str, str, str, int, float]
"""(enterprise, gateway, device, tag, ts_ms, value) of one good or uncertain numeric sample."""


def _rule(row: Any) -> Rule:
    return Rule(
        row.id, row.enterprise, row.device, row.tag, row.name, row.severity, row.above, row.below,
        row.clear, row.delay or 0.0,
    )


def rule_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "device": row.device, "tag": row.tag, "name": row.name, "severity": row.severity,
        "above": row.above, "below": row.below, "clear": row.clear, "delay": row.delay, "source": row.source,
    }


def alarm_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "enterprise": row.enterprise, "gateway": row.gateway, "device": row.device,
        "tag": row.tag, "rule": row.rule_id, "name": row.name, "severity": row.severity,
        "state": row.state, "condition": row.condition, "value": row.value, "peak": row.peak,
        "since": iso_ms(row.since_ms / 1000), "raised_at": iso_ms(row.raised_ms / 1000),
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "acknowledged_by": row.acknowledged_by, "note": row.note,
        "cleared_at": iso_ms(row.cleared_ms / 1000) if row.cleared_ms is not None else None,
    }


# -- rules ---------------------------------------------------------------------------------------


def list_rules(conn: Connection, enterprise: str, device: str | None = None) -> list[dict[str, Any]]:
    q = select(db.alarm_rules).where(db.alarm_rules.c.enterprise == enterprise)
    if device:
        q = q.where(db.alarm_rules.c.device == device)
    return [rule_dict(r) for r in conn.execute(q.order_by(db.alarm_rules.c.id))]


def get_rule(conn: Connection, enterprise: str, rule_id: int) -> Any:
    return conn.execute(
        select(db.alarm_rules).where(db.alarm_rules.c.enterprise == enterprise, db.alarm_rules.c.id == rule_id)
    ).first()


def find_rule(conn: Connection, enterprise: str, device: str, tag: str, name: str) -> Any:
    c = db.alarm_rules.c
    return conn.execute(
        select(db.alarm_rules).where(c.enterprise == enterprise, c.device == device, c.tag == tag, c.name == name)
    ).first()


def add_rule(conn: Connection, enterprise: str, data: dict[str, Any], source: str = "manual") -> int:
    Rule(0, enterprise, **{k: data[k] for k in ("device", "tag", "name")},
         **{k: data[k] for k in ("severity", "above", "below", "clear", "delay") if data.get(k) is not None}).check()
    res = conn.execute(
        insert(db.alarm_rules).values(
            enterprise=enterprise, source=source, created_at=datetime.now(UTC),
            device=data["device"], tag=data["tag"], name=data["name"], severity=data.get("severity") or "warning",
            above=data.get("above"), below=data.get("below"), clear=data.get("clear"),
            delay=data.get("delay") or 0.0,
        )
    )
    pk = res.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def replace_rule(conn: Connection, enterprise: str, rule_id: int, data: dict[str, Any]) -> None:
    """Change a rule's levels; its evaluation restarts and any open alarm of it is cleared."""
    Rule(rule_id, enterprise, **{k: data[k] for k in ("device", "tag", "name")},
         **{k: data[k] for k in ("severity", "above", "below", "clear", "delay") if data.get(k) is not None}).check()
    conn.execute(
        update(db.alarm_rules)
        .where(db.alarm_rules.c.id == rule_id)
        .values(**{k: data.get(k) for k in ("device", "tag", "name", "above", "below", "clear")},
                severity=data.get("severity") or "warning", delay=data.get("delay") or 0.0)
    )
    _retire(conn, rule_id)


def delete_rule(conn: Connection, rule_id: int) -> None:
    _retire(conn, rule_id)
    conn.execute(delete(db.alarm_rules).where(db.alarm_rules.c.id == rule_id))


def _retire(conn: Connection, rule_id: int) -> None:
    now = round(datetime.now(UTC).timestamp() * 1000)
    conn.execute(
        update(db.alarms)
        .where(db.alarms.c.rule_id == rule_id, db.alarms.c.state.in_(OPEN_STATES))
        .values(state="cleared", cleared_ms=now)
    )
    conn.execute(delete(db.alarm_state).where(db.alarm_state.c.rule_id == rule_id))


# -- evaluation ----------------------------------------------------------------------------------


class _Slot:
    """A rule's evaluation state plus the id of its open alarm, while one transaction runs."""

    __slots__ = ("alarm_id", "state")

    def __init__(self, state: State, alarm_id: int | None) -> None:
        self.state = state
        self.alarm_id = alarm_id


def evaluate(conn: Connection, rows: Sequence[SampleRow]) -> int:
    """Run the rules of the devices in `rows` over their samples (in time order) inside the
    caller's ingest transaction; returns the number of raise/clear events."""
    if not rows:
        return 0
    pairs = {(r[0], r[2]) for r in rows}
    c = db.alarm_rules.c
    cond = or_(*[and_(c.enterprise == e, c.device == d) for e, d in sorted(pairs)])
    rules: dict[tuple[str, str, str], list[Rule]] = defaultdict(list)
    for r in conn.execute(select(db.alarm_rules).where(cond)):
        rules[(r.enterprise, r.device, r.tag)].append(_rule(r))
    if not rules:
        return 0
    per_rule: dict[int, list[SampleRow]] = defaultdict(list)
    by_id: dict[int, Rule] = {}
    for row in rows:
        for rule in rules.get((row[0], row[2], row[3]), ()):
            per_rule[rule.id].append(row)
            by_id[rule.id] = rule
    if not per_rule:
        return 0
    slots = _lock(conn, sorted(per_rule))
    events = 0
    for rid in sorted(per_rule):
        rule, slot = by_id[rid], slots[rid]
        for row in sorted(per_rule[rid], key=lambda r: r[4]):
            events += _apply(conn, rule, slot, step(rule, slot.state, row[5], row[4]), gateway=row[1])
        _save(conn, rid, slot)
    return events


def run_ticks(engine: Engine, now_ms: int) -> int:
    """Raise alarms whose delay ran out without a newer sample; cheap when nothing is pending."""
    s = db.alarm_state.c
    with engine.connect() as conn:
        due = conn.execute(
            select(s.rule_id).where(s.pending_ms.is_not(None), s.active_alarm.is_(None))
        ).scalars().all()
    if not due:
        return 0
    events = 0
    with engine.begin() as conn:
        rules = {r.id: _rule(r) for r in conn.execute(select(db.alarm_rules).where(db.alarm_rules.c.id.in_(due)))}
        slots = _lock(conn, sorted(rules))
        for rid in sorted(rules):
            slot = slots.get(rid)
            if slot is None:
                continue
            evs = tick(rules[rid], slot.state, now_ms)
            if evs:
                gw = conn.execute(
                    select(db.latest.c.gateway).where(
                        db.latest.c.enterprise == rules[rid].enterprise, db.latest.c.device == rules[rid].device,
                        db.latest.c.tag == rules[rid].tag,
                    ).limit(1)
                ).scalar()
                events += _apply(conn, rules[rid], slot, evs, gateway=gw)
                _save(conn, rid, slot)
    return events


def _lock(conn: Connection, ids: list[int]) -> dict[int, _Slot]:
    conn.execute(insert_for(conn, db.alarm_state).on_conflict_do_nothing(), [{"rule_id": i} for i in ids])
    q = for_update(
        conn, select(db.alarm_state).where(db.alarm_state.c.rule_id.in_(ids)).order_by(db.alarm_state.c.rule_id)
    )
    return {
        r.rule_id: _Slot(State(r.pending_ms, r.last_ms, r.last_value, r.active_alarm is not None), r.active_alarm)
        for r in conn.execute(q)
    }


def _save(conn: Connection, rid: int, slot: _Slot) -> None:
    st = slot.state
    conn.execute(
        update(db.alarm_state)
        .where(db.alarm_state.c.rule_id == rid)
        .values(pending_ms=st.pending_ms, last_ms=st.last_ms, last_value=st.last_value,
                active_alarm=slot.alarm_id if st.active else None)
    )


def _apply(conn: Connection, rule: Rule, slot: _Slot, evs: Iterable[Event], gateway: str | None) -> int:
    n = 0
    for ev in evs:
        if ev.kind == "raise":
            res = conn.execute(
                insert(db.alarms).values(
                    rule_id=rule.id, enterprise=rule.enterprise, gateway=gateway, device=rule.device,
                    tag=rule.tag, name=rule.name, severity=rule.severity, state="active",
                    condition=rule.condition, value=ev.value, peak=ev.value, since_ms=ev.since_ms,
                    raised_ms=ev.ts_ms,
                )
            )
            pk = res.inserted_primary_key
            assert pk is not None
            slot.alarm_id = int(pk[0])
            n += 1
        elif slot.alarm_id is not None and ev.kind == "clear":
            conn.execute(
                update(db.alarms).where(db.alarms.c.id == slot.alarm_id).values(state="cleared", cleared_ms=ev.ts_ms)
            )
            slot.alarm_id = None
            n += 1
        elif slot.alarm_id is not None and ev.kind == "peak":
            peak = conn.execute(select(db.alarms.c.peak).where(db.alarms.c.id == slot.alarm_id)).scalar()
            worse = rule.worse(peak if peak is not None else ev.value, ev.value)
            if worse != peak:
                conn.execute(update(db.alarms).where(db.alarms.c.id == slot.alarm_id).values(peak=worse))
    return n


# -- alarms --------------------------------------------------------------------------------------


def list_alarms(
    conn: Connection,
    enterprises: Sequence[str] | None,
    *,
    state: str | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
    device: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Newest first. `enterprises=None` means every enterprise (admin, regulator without district)."""
    a = db.alarms.c
    q = select(db.alarms)
    if enterprises is not None:
        q = q.where(a.enterprise.in_(list(enterprises)))
    if state == "open":
        q = q.where(a.state.in_(OPEN_STATES))
    elif state:
        q = q.where(a.state == state)
    if from_ms is not None:
        q = q.where(a.raised_ms >= from_ms)
    if to_ms is not None:
        q = q.where(a.raised_ms < to_ms)
    if device:
        q = q.where(a.device == device)
    q = q.order_by(a.raised_ms.desc(), a.id.desc()).limit(limit).offset(offset)
    return [alarm_dict(r) for r in conn.execute(q)]


def count_alarms(conn: Connection, enterprises: Sequence[str], from_ms: int, to_ms: int) -> dict[str, int]:
    a = db.alarms.c
    q = (
        select(a.enterprise, func.count())
        .where(a.enterprise.in_(list(enterprises)), a.raised_ms >= from_ms, a.raised_ms < to_ms)
        .group_by(a.enterprise)
    )
    return {e: int(n) for e, n in conn.execute(q)}


def acknowledge(engine: Engine, enterprise: str, alarm_id: int, who: str, note: str | None) -> dict[str, Any] | None:
    """Active → acknowledged; acknowledging a cleared alarm records who saw it and keeps it cleared.
    Acknowledging twice keeps the first acknowledgement (idempotent)."""
    a = db.alarms.c
    with engine.begin() as conn:
        row = conn.execute(
            for_update(conn, select(db.alarms).where(a.enterprise == enterprise, a.id == alarm_id))
        ).first()
        if row is None:
            return None
        if row.acknowledged_at is None:
            conn.execute(
                update(db.alarms)
                .where(a.id == alarm_id)
                .values(
                    state="acknowledged" if row.state == "active" else row.state,
                    acknowledged_at=datetime.now(UTC), acknowledged_by=who, note=note,
                )
            )
        row = conn.execute(select(db.alarms).where(a.id == alarm_id)).first()
    return alarm_dict(row)
