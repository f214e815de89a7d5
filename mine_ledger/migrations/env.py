"""Alembic environment of the ledger, run programmatically by ``Ledger.migrate()``.

The ledger keeps its own version table (``ledger_alembic_version``) so that it can share a
database with the platform's tables and their migrations.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mine_ledger.schema import metadata

VERSION_TABLE = "ledger_alembic_version"

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, version_table=VERSION_TABLE, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url or "sqlite:///./data/minegate.db")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
