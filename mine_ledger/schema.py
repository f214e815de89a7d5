"""Tables of the ledger (SQLAlchemy Core), all prefixed ``ledger_``.

Quantities are integer kilograms (``*_kg``) and meter values integer thousandths (``*_milli``):
exact on SQLite and PostgreSQL alike, and cheap to sum. Times are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

#: BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements)
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; SQLite keeps them as naive UTC text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger database")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


enterprises = Table(
    "ledger_enterprises",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("district", String(100), nullable=True, index=True),
    Column("production_source", String(16), nullable=False),
    Column("config", Text, nullable=False),  # JSON: shifts, night_ban, products, thresholds
    Column("closed_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

capacities = Table(
    "ledger_capacities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("ledger_enterprises.id"), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("tpa_kg", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("enterprise_id", "effective_from", name="uq_ledger_capacities_from"),
)

stops = Table(
    "ledger_stops",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("ledger_enterprises.id"), nullable=False, index=True),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

closes = Table(
    "ledger_closes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("ledger_enterprises.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("start", UTCDateTime, nullable=False),
    Column("end", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=False),
    Column("author", String(200), nullable=False),
    Column("head_seq", Integer, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("closing", Text, nullable=False),  # JSON [{"product", "stockpile", "tonnes"}]
    UniqueConstraint("enterprise_id", "month", name="uq_ledger_closes_month"),
)

entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("ledger_enterprises.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("author", String(200), nullable=False),
    Column("source", String(16), nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON of the kind's fields
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("reverses", BigInteger, nullable=True, unique=True),
    Column("ticket", String(100), nullable=True),
    Column("vehicle", String(100), nullable=True),
    UniqueConstraint("enterprise_id", "seq", name="uq_ledger_entries_seq"),
    Index("ix_ledger_entries_ent_at", "enterprise_id", "at"),
    Index("ix_ledger_entries_ent_kind_at", "enterprise_id", "kind", "at"),
    Index("ix_ledger_entries_ent_ticket", "enterprise_id", "ticket"),
    Index("ix_ledger_entries_ent_vehicle", "enterprise_id", "vehicle"),
)

movements = Table(
    "ledger_movements",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger, nullable=False, index=True),
    Column("enterprise_id", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("product", String(32), nullable=False),
    Column("stockpile", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("kg", BigInteger, nullable=False),
    Index("ix_ledger_movements_ent_at", "enterprise_id", "at"),
)

aggregates = Table(
    "ledger_aggregates",
    metadata,
    Column("enterprise_id", Integer, primary_key=True),
    Column("grain", String(1), primary_key=True),  # D = day, M = month (Asia/Shanghai)
    Column("start", UTCDateTime, primary_key=True),
    Column("product", String(32), primary_key=True),
    Column("stockpile", String(64), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("kg", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
)

sale_tickets = Table(
    "ledger_sale_tickets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, nullable=False),
    Column("ticket", String(100), nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Index("ix_ledger_sale_tickets_ent_ticket", "enterprise_id", "ticket"),
)

settings = Table(
    "ledger_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

meters = Table(
    "ledger_meters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey("ledger_enterprises.id"), nullable=False, index=True),
    Column("gateway", String(100), nullable=False),
    Column("device", String(100), nullable=False),
    Column("tag", String(100), nullable=False),
    Column("measures", String(16), nullable=False),
    Column("product", String(32), nullable=True),
    Column("stockpile", String(64), nullable=True),
    Column("max_rate", String(32), nullable=False),
    Column("rollover", String(32), nullable=True),
    Column("max_gap_s", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # differencing state: the last accepted reading and a suspected spike awaiting confirmation
    Column("last_ts", UTCDateTime, nullable=True),
    Column("last_milli", BigInteger, nullable=True),
    Column("pending_ts", UTCDateTime, nullable=True),
    Column("pending_milli", BigInteger, nullable=True),
)

meter_readings = Table(
    "ledger_meter_readings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("meter_id", Integer, nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("since", UTCDateTime, nullable=True),  # previous accepted reading: the delta covers (since, ts]
    Column("value_milli", BigInteger, nullable=True),
    Column("quality", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("delta_milli", BigInteger, nullable=True),
    Index("ix_ledger_meter_readings_meter_ts", "meter_id", "ts"),
)

meter_periods = Table(
    "ledger_meter_periods",
    metadata,
    Column("meter_id", Integer, primary_key=True),
    Column("start", UTCDateTime, primary_key=True),
    Column("end", UTCDateTime, nullable=False),
    Column("shift", String(32), nullable=False),
    Column("milli", BigInteger, nullable=False),
    Column("covered_ms", BigInteger, nullable=False),
    Column("entry_id", BigInteger, nullable=True),
)
