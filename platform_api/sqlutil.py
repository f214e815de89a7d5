"""Small helpers for the two databases the platform runs on (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_for(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing/do_update` on both backends."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def for_update(conn: Connection, stmt: Any) -> Any:
    """Row locks on PostgreSQL; SQLite's write transaction (BEGIN IMMEDIATE) already serializes."""
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt


def greatest(conn: Connection, a: Any, b: Any) -> Any:
    from sqlalchemy import func

    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


def least(conn: Connection, a: Any, b: Any) -> Any:
    from sqlalchemy import func

    return func.least(a, b) if conn.dialect.name == "postgresql" else func.min(a, b)
