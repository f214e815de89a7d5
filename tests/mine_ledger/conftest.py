"""Ledger fixtures: every database test runs on SQLite and on the real PostgreSQL.

PostgreSQL gets one uniquely named database per test session (dropped at the end), migrated once;
each test starts from empty tables. SQLite copies a migrated template file per test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from mine_ledger import Ledger
from mine_ledger.schema import metadata

PG_ADMIN = [
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
]
ENTERPRISE = {"code": "E150302001", "name": "骆驼山煤矿", "kind": "coal_mine", "district": "海南区",
              "approved_capacity_tpa": "1200000"}


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    admin_url = None
    for url in PG_ADMIN:
        eng = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with eng.connect():
                admin_url = url
                break
        except OperationalError:
            continue
        finally:
            eng.dispose()
    if admin_url is None:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    name = f"ledger_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        with Ledger(url) as led:
            led.migrate()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ledger-template") / "template.db"
    with Ledger(f"sqlite:///{path}") as led:
        led.migrate()
    return path


_engines: dict[str, Engine] = {}


def _empty(url: str) -> None:
    """DELETE is much cheaper than TRUNCATE on tables this small; ids restart at 1."""
    eng = _engines.get(url) or _engines.setdefault(url, create_engine(url, poolclass=NullPool))
    with eng.begin() as conn:
        for t in reversed(metadata.sorted_tables):
            if t.name == "ledger_settings":
                continue
            conn.execute(t.delete())
            for col in t.primary_key.columns:
                if col.autoincrement is True or (col.autoincrement == "auto" and len(t.primary_key.columns) == 1):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t.name}', '{col.name}'), 1, false)"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """URL of an empty, migrated ledger database."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_url")
    _empty(url)
    return url


@pytest.fixture
def make_ledger(db_url: str, signing_key: Ed25519PrivateKey) -> Iterator[Callable[..., Ledger]]:
    made: list[Ledger] = []

    def make(**kw: Any) -> Ledger:
        kw.setdefault("signing_key", signing_key)
        led = Ledger(db_url, **kw)
        made.append(led)
        return led

    yield make
    for led in made:
        led.close()


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


@pytest.fixture
def mine(ledger: Ledger) -> str:
    """A coal mine with 1.2 Mt/a approved capacity and the default shifts."""
    return str(ledger.create_enterprise(ENTERPRISE)["code"])
