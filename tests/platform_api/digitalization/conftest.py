"""One app per database (SQLite and PostgreSQL, from the platform's `db_url` fixture) with a token
per role; enterprises are made per test with unique codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from platform_api.app import create_app
from platform_api.auth import create_token
from platform_api.settings import PlatformSettings
from tests.platform_api.digitalization.dg_testkit import Api

DISTRICT_A, DISTRICT_B = "海南区", "乌达区"


@pytest.fixture(scope="session")
def dapi(db_url: str) -> Iterator[Api]:
    app = create_app(PlatformSettings(database_url=db_url, jobs_enabled=False, audit=False))
    e = app.state.engine
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, app)
        api.tokens = {
            "admin": create_token(e, "admin"),
            "regulator": create_token(e, "regulator"),
            "regulator_a": create_token(e, "regulator", district=DISTRICT_A),
            "regulator_b": create_token(e, "regulator", district=DISTRICT_B),
            "gateway": create_token(e, "gateway", enterprise="GWONLY", gateway="gw1"),
            "bogus": "mgt_not-a-token",
        }
        yield api
