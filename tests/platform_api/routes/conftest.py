"""A running app per database (session-scoped) with one token per role and two enterprises."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from platform_api.app import create_app
from platform_api.auth import create_token
from platform_api.settings import PlatformSettings

DISTRICT_A, DISTRICT_B = "海南区", "乌达区"


@dataclass
class Api:
    client: TestClient
    app: Any
    a: str  # enterprise A (海南区)
    b: str  # enterprise B (乌达区)
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}

    def call(self, who: str, method: str, path: str, **kw: Any) -> Any:
        return self.client.request(method, path, headers={**self.h(who), **kw.pop("headers", {})}, **kw)

    def get(self, who: str, path: str, **kw: Any) -> Any:
        return self.call(who, "GET", path, **kw)

    def post(self, who: str, path: str, **kw: Any) -> Any:
        return self.call(who, "POST", path, **kw)

    def put(self, who: str, path: str, **kw: Any) -> Any:
        return self.call(who, "PUT", path, **kw)


def enterprise_body(code: str, district: str, **over: Any) -> dict[str, Any]:
    return {"code": code, "name": f"煤矿 {code}", "kind": "coal_mine", "district": district,
            "approved_capacity_tpa": "1200000", "night_ban": ["00:00", "06:00"], **over}


@pytest.fixture(scope="session")
def api(db_url: str) -> Iterator[Api]:
    app = create_app(PlatformSettings(database_url=db_url, jobs_enabled=False))
    e = app.state.engine
    sfx = uuid.uuid4().hex[:6].upper()
    a, b = f"A{sfx}", f"B{sfx}"
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, app, a, b)
        api.tokens = {
            "admin": create_token(e, "admin"),
            "regulator": create_token(e, "regulator"),
            "regulator_a": create_token(e, "regulator", district=DISTRICT_A),
            "regulator_b": create_token(e, "regulator", district=DISTRICT_B),
            "ent_a": create_token(e, "enterprise", enterprise=a),
            "ent_b": create_token(e, "enterprise", enterprise=b),
            "gw_a": create_token(e, "gateway", enterprise=a, gateway="gw1"),
            "gw_a2": create_token(e, "gateway", enterprise=a, gateway="gw2"),
            "gw_b": create_token(e, "gateway", enterprise=b, gateway="gw1"),
            "bogus": "mgt_not-a-token",
        }
        for code, district in ((a, DISTRICT_A), (b, DISTRICT_B)):
            r = api.post("admin", "/api/v1/enterprises", json=enterprise_body(code, district))
            assert r.status_code == 201, r.text
        yield api
