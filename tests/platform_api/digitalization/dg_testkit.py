"""Helpers of the digitalization tests: a synthetic telemetry history written through the
platform's real ingest path, and enterprise setup through the API."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from platform_api.telemetry.batch import Batch, Point
from platform_api.telemetry.store import write_batches

SLOT = 300_000
_seq = itertools.count(1)


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """UTC wall time as epoch milliseconds: ms(2025, 3, 10, 8)."""
    return round(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def history(
    engine: Engine, enterprise: str, gateway: str, device: str, start_ms: int, slots: int,
    tags: Sequence[str] = ("flow_tph",), every: int = 1, quality: str = "good", per_slot: int = 1,
) -> int:
    """`slots` consecutive 5-minute slots from `start_ms`, every `every`-th one with `per_slot`
    samples of each tag; returns how many slots got data."""
    points = []
    filled = 0
    for k in range(0, slots, every):
        filled += 1
        for j in range(per_slot):
            ts = start_ms + k * SLOT + j * (SLOT // max(per_slot, 1))
            for t in tags:
                points.append(Point(t, ts, None if quality == "bad" else 100.0 + k % 7, None, quality,
                                    "timeout" if quality == "bad" else None))
    batches = [Batch(enterprise, gateway, device, "hist", next(_seq), points[i:i + 5000])
               for i in range(0, len(points), 5000)]
    write_batches(engine, batches)
    return filled


@dataclass
class Api:
    client: TestClient
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        e: Engine = self.app.state.engine
        return e

    def call(self, who: str, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, who: str, path: str, **kw: Any) -> Any:
        return self.call(who, "GET", path, **kw)

    def put(self, who: str, path: str, **kw: Any) -> Any:
        return self.call(who, "PUT", path, **kw)

    def enterprise(self, district: str, name: str | None = None, code: str | None = None) -> tuple[str, str]:
        """A new enterprise with its own enterprise token; returns (code, token key)."""
        from platform_api.auth import create_token

        code = code or "D" + uuid.uuid4().hex[:9].upper()
        r = self.call("admin", "POST", "/api/v1/enterprises", json={
            "code": code, "name": name or f"测试煤矿{code}", "kind": "coal_mine", "district": district,
            "approved_capacity_tpa": "1200000"})
        assert r.status_code == 201, r.text
        self.tokens[f"ent_{code}"] = create_token(self.engine, "enterprise", enterprise=code)
        return code, f"ent_{code}"


def register(rows: Iterable[tuple[str, bool, bool, str | None, str | None]]) -> list[dict[str, Any]]:
    """(name, production, digital, gateway, device) tuples as register rows."""
    return [{"name": n, "kind": "belt_conveyor", "production": p, "digital": d, "gateway": g, "device": dev}
            for n, p, d, g, dev in rows]
