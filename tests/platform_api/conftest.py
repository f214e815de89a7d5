"""Platform test fixtures: one SQLite file and one PostgreSQL database per session (dropped after);
tests use unique enterprise codes so they never see each other's rows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from platform_api import db

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"mg_platform_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # pragma: no cover - the server is part of the test environment
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unavailable: {e}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('platform')}/minegate.db"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    e = db.make_engine(db_url)
    db.create_tables(e)
    yield e
    e.dispose()


@pytest.fixture
def code() -> str:
    """A fresh enterprise code."""
    return "E" + uuid.uuid4().hex[:10].upper()
