"""Initial ledger schema.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_enterprises",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("district", sa.String(100), nullable=True),
        sa.Column("production_source", sa.String(16), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("closed_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_ledger_enterprises_district", "ledger_enterprises", ["district"])
    op.create_table(
        "ledger_capacities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("ledger_enterprises.id"), nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("tpa_kg", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("enterprise_id", "effective_from", name="uq_ledger_capacities_from"),
    )
    op.create_table(
        "ledger_stops",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("ledger_enterprises.id"), nullable=False),
        sa.Column("start", TS, nullable=False),
        sa.Column("end", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_ledger_stops_enterprise_id", "ledger_stops", ["enterprise_id"])
    op.create_table(
        "ledger_closes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("ledger_enterprises.id"), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("start", TS, nullable=False),
        sa.Column("end", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("head_seq", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("closing", sa.Text, nullable=False),
        sa.UniqueConstraint("enterprise_id", "month", name="uq_ledger_closes_month"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("ledger_enterprises.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("reverses", sa.BigInteger, nullable=True, unique=True),
        sa.Column("ticket", sa.String(100), nullable=True),
        sa.Column("vehicle", sa.String(100), nullable=True),
        sa.UniqueConstraint("enterprise_id", "seq", name="uq_ledger_entries_seq"),
    )
    op.create_index("ix_ledger_entries_ent_at", "ledger_entries", ["enterprise_id", "at"])
    op.create_index("ix_ledger_entries_ent_kind_at", "ledger_entries", ["enterprise_id", "kind", "at"])
    op.create_index("ix_ledger_entries_ent_ticket", "ledger_entries", ["enterprise_id", "ticket"])
    op.create_index("ix_ledger_entries_ent_vehicle", "ledger_entries", ["enterprise_id", "vehicle"])
    op.create_table(
        "ledger_movements",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("enterprise_id", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("stockpile", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("kg", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ledger_movements_entry_id", "ledger_movements", ["entry_id"])
    op.create_index("ix_ledger_movements_ent_at", "ledger_movements", ["enterprise_id", "at"])
    op.create_table(
        "ledger_aggregates",
        sa.Column("enterprise_id", sa.Integer, primary_key=True),
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("start", TS, primary_key=True),
        sa.Column("product", sa.String(32), primary_key=True),
        sa.Column("stockpile", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("kg", sa.BigInteger, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.create_table(
        "ledger_sale_tickets",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.Integer, nullable=False),
        sa.Column("ticket", sa.String(100), nullable=False),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ledger_sale_tickets_ent_ticket", "ledger_sale_tickets", ["enterprise_id", "ticket"])
    op.create_table(
        "ledger_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "ledger_meters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("ledger_enterprises.id"), nullable=False),
        sa.Column("gateway", sa.String(100), nullable=False),
        sa.Column("device", sa.String(100), nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.Column("measures", sa.String(16), nullable=False),
        sa.Column("product", sa.String(32), nullable=True),
        sa.Column("stockpile", sa.String(64), nullable=True),
        sa.Column("max_rate", sa.String(32), nullable=False),
        sa.Column("rollover", sa.String(32), nullable=True),
        sa.Column("max_gap_s", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_ts", TS, nullable=True),
        sa.Column("last_milli", sa.BigInteger, nullable=True),
        sa.Column("pending_ts", TS, nullable=True),
        sa.Column("pending_milli", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_ledger_meters_enterprise_id", "ledger_meters", ["enterprise_id"])
    op.create_table(
        "ledger_meter_readings",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.Integer, nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("since", TS, nullable=True),
        sa.Column("value_milli", sa.BigInteger, nullable=True),
        sa.Column("quality", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("delta_milli", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_ledger_meter_readings_meter_ts", "ledger_meter_readings", ["meter_id", "ts"])
    op.create_table(
        "ledger_meter_periods",
        sa.Column("meter_id", sa.Integer, primary_key=True),
        sa.Column("start", TS, primary_key=True),
        sa.Column("end", TS, nullable=False),
        sa.Column("shift", sa.String(32), nullable=False),
        sa.Column("milli", sa.BigInteger, nullable=False),
        sa.Column("covered_ms", sa.BigInteger, nullable=False),
        sa.Column("entry_id", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    for name in (
        "ledger_meter_periods",
        "ledger_meter_readings",
        "ledger_meters",
        "ledger_settings",
        "ledger_sale_tickets",
        "ledger_aggregates",
        "ledger_movements",
        "ledger_entries",
        "ledger_closes",
        "ledger_stops",
        "ledger_capacities",
        "ledger_enterprises",
    ):
        op.drop_table(name)
