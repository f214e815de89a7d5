"""The platform's own tables (prefix `platform_`) and the engine shared with the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine, make_url

metadata = MetaData()

# An autoincrementing id that is BIGINT on PostgreSQL but INTEGER (= rowid) on SQLite.
_Id = BigInteger().with_variant(Integer(), "sqlite")
_Ts = DateTime(timezone=True)

tokens = Table(
    "platform_tokens",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("enterprise", String(64)),
    Column("gateway", String(64)),
    Column("district", String(64)),
    Column("label", String(200)),
    Column("created_at", _Ts, nullable=False),
    Column("revoked_at", _Ts),
)

audit = Table(
    "platform_audit",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", _Ts, nullable=False),
    Column("token_id", BigInteger),
    Column("role", String(16)),
    Column("subject", String(200)),
    Column("method", String(10), nullable=False),
    Column("path", String(500), nullable=False),
    Column("enterprise", String(64)),
    Column("action", String(8), nullable=False),
    Column("status", Integer, nullable=False),
    Index("ix_platform_audit_enterprise_at", "enterprise", "at"),
)

gateways = Table(
    "platform_gateways",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("gateway", String(64), primary_key=True),
    Column("online", Boolean),
    Column("status_ts", BigInteger),
    Column("devices", JSON),
    Column("dropped", JSON),
    Column("last_seen", BigInteger),
    Column("mqtt_password_hash", String(300)),
    Column("created_at", _Ts),
)

devices = Table(
    "platform_devices",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("gateway", String(64), primary_key=True),
    Column("device", String(64), primary_key=True),
    Column("profile", String(100)),
    Column("state", String(8)),
    Column("since", BigInteger),
    Column("error", Text),
    Column("first_seen", BigInteger),
)

batches = Table(
    "platform_batches",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("gateway", String(64), primary_key=True),
    Column("epoch", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("device", String(64)),
    Column("samples", Integer, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
)

cursors = Table(
    "platform_ingest_cursors",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("gateway", String(64), primary_key=True),
    Column("epoch", String(64), primary_key=True),
    Column("ranges", JSON, nullable=False),
    Column("high_seq", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
"""Per gateway epoch, the received `seq` values as a short list of contiguous `[first, last]`
ranges: the holes between them are the gaps, and the list stays small whatever the volume."""

drops = Table(
    "platform_drops",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("gateway", String(64), primary_key=True),
    Column("epoch", String(64), primary_key=True),
    Column("first_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("announced_ms", BigInteger, nullable=False),
)

latest = Table(
    "platform_latest",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("gateway", String(64), primary_key=True),
    Column("device", String(64), primary_key=True),
    Column("tag", String(100), primary_key=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("value", Float),
    Column("text", Text),
    Column("quality", String(10), nullable=False),
    Column("error", Text),
)

samples = Table(
    "platform_samples",
    metadata,
    Column("enterprise", String(64), nullable=False),
    Column("gateway", String(64), nullable=False),
    Column("device", String(64), nullable=False),
    Column("tag", String(100), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("value", Float),
    Column("text", Text),
    Column("quality", String(10), nullable=False),
    Column("error", Text),
    Index("ix_platform_samples_edtt", "enterprise", "device", "tag", "ts_ms"),
)

ROLLUP_MS = 300_000
"""5-minute statistics (min/max/sum/count per bucket) kept beside the raw samples for long ranges."""

rollup = Table(
    "platform_rollup_5m",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("device", String(64), primary_key=True),
    Column("tag", String(100), primary_key=True),
    Column("bucket_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("gateway", String(64), primary_key=True),
    Column("vmin", Float, nullable=False),
    Column("vmax", Float, nullable=False),
    Column("vsum", Float, nullable=False),
    Column("n", Integer, nullable=False),
)

alarm_rules = Table(
    "platform_alarm_rules",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("enterprise", String(64), nullable=False),
    Column("device", String(64), nullable=False),
    Column("tag", String(100), nullable=False),
    Column("name", String(100), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("above", Float),
    Column("below", Float),
    Column("clear", Float),
    Column("delay", Float, nullable=False, default=0.0),
    Column("source", String(120), nullable=False, default="manual"),
    Column("created_at", _Ts, nullable=False),
    UniqueConstraint("enterprise", "device", "tag", "name", name="uq_platform_alarm_rule"),
)

alarm_state = Table(
    "platform_alarm_state",
    metadata,
    Column("rule_id", BigInteger, primary_key=True, autoincrement=False),
    Column("pending_ms", BigInteger),
    Column("last_ms", BigInteger),
    Column("last_value", Float),
    Column("active_alarm", BigInteger),
)

alarms = Table(
    "platform_alarms",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("rule_id", BigInteger, nullable=False),
    Column("enterprise", String(64), nullable=False),
    Column("gateway", String(64)),
    Column("device", String(64), nullable=False),
    Column("tag", String(100), nullable=False),
    Column("name", String(100), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("state", String(14), nullable=False),
    Column("condition", String(40), nullable=False),
    Column("value", Float),
    Column("peak", Float),
    Column("since_ms", BigInteger, nullable=False),
    Column("raised_ms", BigInteger, nullable=False),
    Column("acknowledged_at", _Ts),
    Column("acknowledged_by", String(200)),
    Column("note", Text),
    Column("cleared_ms", BigInteger),
    Index("ix_platform_alarms_ent_state", "enterprise", "state"),
    Index("ix_platform_alarms_ent_raised", "enterprise", "raised_ms"),
)

meter_cursors = Table(
    "platform_meter_cursors",
    metadata,
    Column("enterprise", String(64), primary_key=True),
    Column("gateway", String(64), primary_key=True),
    Column("device", String(64), primary_key=True),
    Column("tag", String(100), primary_key=True),
    Column("last_ms", BigInteger, nullable=False),
)

job_runs = Table(
    "platform_job_runs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_key", String(64)),
    Column("last_at", _Ts),
    Column("detail", JSON),
)

anomaly_log = Table(
    "platform_anomalies",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("enterprise", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("code", String(40), nullable=False),
    Column("severity", String(10)),
    Column("at", String(40)),
    Column("found_at", _Ts, nullable=False),
    Column("body", JSON, nullable=False),
    UniqueConstraint("enterprise", "key", name="uq_platform_anomaly"),
)


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` use psycopg 3 (the one PostgreSQL driver installed)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Transactions are begun by `_sqlite_begin` below (pysqlite's own BEGIN is deferred).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """BEGIN IMMEDIATE: a transaction that reads then writes never fails with "database is locked"
    halfway (a deferred one cannot upgrade its snapshot once another thread has written)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """One engine per process; SQLite gets WAL and a busy timeout since several threads write."""
    url = normalize_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        db = u.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True, pool_timeout=60)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
