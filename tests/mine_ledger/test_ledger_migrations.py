"""Alembic migrations create exactly the tables the code uses, on both databases, and run twice."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mine_ledger import Ledger
from mine_ledger.schema import metadata


def test_migrated_schema_matches_the_code(ledger: Ledger) -> None:
    ledger.migrate()  # already at head: a second run changes nothing
    with ledger.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        # tables of other packages and the version table are not ours to compare
        diff = [d for d in compare_metadata(ctx, metadata)
                if not (d[0] == "remove_table" and (not d[1].name.startswith("ledger_")
                                                    or d[1].name == "ledger_alembic_version"))]
        assert diff == []
        names = set(inspect(conn).get_table_names())
    assert {t.name for t in metadata.sorted_tables} | {"ledger_alembic_version"} <= names
    assert all(n.startswith("ledger_") for n in names if n in {t.name for t in metadata.sorted_tables})


def test_migrations_ship_inside_the_package() -> None:
    from importlib.resources import files

    root = files("mine_ledger.migrations")
    assert (root / "env.py").is_file() and (root / "script.py.mako").is_file()
    assert (root / "versions" / "0001_initial.py").is_file()
