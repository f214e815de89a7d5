"""Tables of the digitalization feature (prefix `platform_`): the equipment register, declared key
processes, self-assessment answers per year, and a cache of monthly telemetry activity.

The register is the enterprise's list of production equipment, networked or not; a row may be
bound to a telemetry device (`gateway`/`device`) so the platform can see whether it delivers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy.engine import Connection, Engine

from devices.model import iso_ms
from platform_api.digitalization.metrics import Activity, DeviceKey, KeyProcess, RegisteredDevice
from platform_api.sqlutil import insert_for

metadata = MetaData()
_Ts = DateTime(timezone=True)

equipment = Table(
    "platform_equipment",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("production", Boolean, nullable=False),
    Column("digital", Boolean, nullable=False),
    Column("gateway", String(64)),
    Column("device", String(64)),
    Column("note", Text),
    Column("registered_at", _Ts, nullable=False),
)

key_processes = Table(
    "platform_key_processes",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("control", String(16), nullable=False),
    Column("devices", JSON, nullable=False),
    Column("note", Text),
)

assessments = Table(
    "platform_assessments",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("edition", String(16), nullable=False),
    Column("answers", JSON, nullable=False),
    Column("scenarios", JSON, nullable=False),
    Column("updated_at", _Ts, nullable=False),
    Column("author", String(200), nullable=False),
)

activity_months = Table(
    "platform_digitalization_months",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("computed_ms", BigInteger, nullable=False),
    Column("body", JSON, nullable=False),
)
"""Telemetry activity of a month, kept once the month is final (see `inputs.FINAL_AFTER_MS`)."""


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def _ms(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    if dt.tzinfo is None:  # SQLite returns naive datetimes (stored as UTC)
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


# -- register --------------------------------------------------------------------------------------


def get_register(conn: Connection, code: str) -> list[dict[str, Any]]:
    t = equipment.c
    rows = conn.execute(select(equipment).where(t.enterprise == code).order_by(t.position, t.name)).all()
    return [{"name": r.name, "kind": r.kind, "production": r.production, "digital": r.digital,
             "gateway": r.gateway, "device": r.device, "note": r.note,
             "registered_at": iso_ms((_ms(r.registered_at) or 0) / 1000)}
            for r in rows]


def set_register(engine: Engine, code: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Replace the register; a row that keeps its name keeps its registration time."""
    now = datetime.now(UTC)
    t = equipment.c
    with engine.begin() as conn:
        since = {r.name: r.registered_at for r in conn.execute(
            select(t.name, t.registered_at).where(t.enterprise == code))}
        conn.execute(delete(equipment).where(t.enterprise == code))
        if rows:
            conn.execute(insert(equipment), [
                {"enterprise": code, "name": r["name"], "position": k, "kind": r.get("kind") or "",
                 "production": bool(r.get("production", True)), "digital": bool(r.get("digital", False)),
                 "gateway": r.get("gateway"), "device": r.get("device"), "note": r.get("note"),
                 "registered_at": since.get(r["name"], now)}
                for k, r in enumerate(rows)
            ])
        return get_register(conn, code)


def register_devices(conn: Connection, code: str) -> list[RegisteredDevice]:
    t = equipment.c
    rows = conn.execute(select(equipment).where(t.enterprise == code).order_by(t.position, t.name)).all()
    return [RegisteredDevice(r.name, r.kind, bool(r.production), bool(r.digital), r.gateway, r.device,
                             _ms(r.registered_at)) for r in rows]


# -- key processes ---------------------------------------------------------------------------------


def get_key_processes(conn: Connection, code: str) -> list[dict[str, Any]]:
    t = key_processes.c
    rows = conn.execute(select(key_processes).where(t.enterprise == code).order_by(t.position, t.name)).all()
    return [{"name": r.name, "control": r.control, "devices": list(r.devices or []), "note": r.note} for r in rows]


def set_key_processes(engine: Engine, code: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    with engine.begin() as conn:
        conn.execute(delete(key_processes).where(key_processes.c.enterprise == code))
        if rows:
            conn.execute(insert(key_processes), [
                {"enterprise": code, "name": r["name"], "position": k, "control": r["control"],
                 "devices": list(r.get("devices") or []), "note": r.get("note")}
                for k, r in enumerate(rows)
            ])
        return get_key_processes(conn, code)


def key_process_list(conn: Connection, code: str) -> list[KeyProcess]:
    return [KeyProcess(r["name"], r["control"], tuple(r["devices"])) for r in get_key_processes(conn, code)]


# -- answers ---------------------------------------------------------------------------------------


def get_answers(conn: Connection, code: str, year: int) -> dict[str, Any] | None:
    t = assessments.c
    r = conn.execute(select(assessments).where(t.enterprise == code, t.year == year)).first()
    if r is None:
        return None
    return {"year": r.year, "edition": r.edition, "answers": dict(r.answers or {}),
            "scenarios": dict(r.scenarios or {}),
            "updated_at": iso_ms((_ms(r.updated_at) or 0) / 1000),
            "author": r.author}


def get_answers_many(conn: Connection, codes: Sequence[str], year: int) -> dict[str, dict[str, Any]]:
    t = assessments.c
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(codes), 500):
        chunk = list(codes[i:i + 500])
        for r in conn.execute(select(t.enterprise, t.answers, t.scenarios).where(
                t.enterprise.in_(chunk), t.year == year)):
            out[r.enterprise] = {"answers": dict(r.answers or {}), "scenarios": dict(r.scenarios or {})}
    return out


def set_answers(
    engine: Engine, code: str, year: int, edition: str, answers: Mapping[str, Any], scenarios: Mapping[str, int],
    author: str,
) -> dict[str, Any]:
    with engine.begin() as conn:
        ins = insert_for(conn, assessments)
        values = {"edition": edition, "answers": dict(answers), "scenarios": dict(scenarios),
                  "updated_at": datetime.now(UTC), "author": author[:200]}
        conn.execute(ins.on_conflict_do_update(index_elements=["enterprise", "year"], set_=values),
                     [{"enterprise": code, "year": year, **values}])
        out = get_answers(conn, code, year)
    assert out is not None
    return out


# -- activity cache --------------------------------------------------------------------------------


def _encode(per: Mapping[DeviceKey, Activity]) -> list[dict[str, Any]]:
    return [{"gateway": g, "device": d, "slots": a.slots, "first_ms": a.first_ms, "tags": a.tags}
            for (g, d), a in sorted(per.items())]


def _decode(body: Sequence[Mapping[str, Any]]) -> dict[DeviceKey, Activity]:
    return {(r["gateway"], r["device"]): Activity(int(r["slots"]), r.get("first_ms"),
                                                   {str(k): int(v) for k, v in (r.get("tags") or {}).items()})
            for r in body}


def cached_months(
    conn: Connection, code: str, months: Sequence[str]
) -> dict[str, tuple[int, dict[DeviceKey, Activity]]]:
    t = activity_months.c
    rows = conn.execute(select(t.month, t.computed_ms, t.body).where(t.enterprise == code, t.month.in_(list(months))))
    return {r.month: (int(r.computed_ms), _decode(r.body)) for r in rows}


def store_months(
    engine: Engine, code: str, months: Mapping[str, Mapping[DeviceKey, Activity]], computed_ms: int
) -> None:
    if not months:
        return
    with engine.begin() as conn:
        ins = insert_for(conn, activity_months)
        conn.execute(
            ins.on_conflict_do_update(index_elements=["enterprise", "month"],
                                      set_={"computed_ms": ins.excluded.computed_ms, "body": ins.excluded.body}),
            [{"enterprise": code, "month": m, "computed_ms": computed_ms, "body": _encode(per)}
             for m, per in sorted(months.items())],
        )
