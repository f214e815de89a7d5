"""The HTTP sink against the real platform app served by uvicorn on a free port (and, for the
answers the platform never gives on demand, a small Starlette app of scripted answers)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from nb_support import free_port, gateway_config, unique
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devices.model import Sample
from gateway.northbound import build_outlet, check_sink
from gateway.northbound.outlet import NorthboundOutlet
from gateway.northbound.settings import HttpSettings, parse_sink
from platform_api.app import create_app
from platform_api.auth import create_token
from platform_api.settings import PlatformSettings

T0 = 1_790_000_000.0


class Served:
    """An ASGI app under uvicorn in a thread; stop and start again on the same port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)
            assert not self._thread.is_alive()
            self._server = self._thread = None


class Platform:
    def __init__(self, tmp: Path) -> None:
        self.app = create_app(PlatformSettings(database_url=f"sqlite:///{tmp}/platform.db", jobs_enabled=False,
                                               audit=False))
        self.enterprise = unique("E")
        engine = self.app.state.engine
        self.app.state.ledger.create_enterprise({"code": self.enterprise, "name": "测试煤矿", "kind": "coal_mine"})
        self.gateway_token = create_token(engine, "gateway", enterprise=self.enterprise, gateway="gw1")
        self.admin = create_token(engine, "admin")
        self.server = Served(self.app)
        self.url = self.server.url

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, headers={"Authorization": f"Bearer {self.admin}"}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def history(self, device: str, tag: str) -> list[dict[str, Any]]:
        body = self.get(f"/api/v1/enterprises/{self.enterprise}/telemetry/history", device=device, tag=tag,
                        **{"from": "2026-01-01T00:00:00Z", "to": "2027-12-31T00:00:00Z"})
        points: list[dict[str, Any]] = body["points"] if isinstance(body, dict) else body
        return points


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(tmp_path)
    yield p
    p.server.stop()


def sink(url: str, token: str | None, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "url": url, "token": token, "retry_min": "50ms", "retry_max": "300ms",
            "timeout": "2s", **extra}


def outlet(tmp: Path, entry: dict[str, Any], enterprise: str) -> NorthboundOutlet:
    out = build_outlet(gateway_config(tmp, [entry], enterprise=enterprise))
    assert isinstance(out, NorthboundOutlet)
    return out


async def until(pred: Callable[[], bool], within: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def sink_stats(out: NorthboundOutlet) -> dict[str, Any]:
    stats: dict[str, Any] = out.stats()["sinks"]["http"]
    return stats


async def test_batches_arrive_in_the_platform_with_values_and_quality(tmp_path: Path, platform: Platform) -> None:
    platform.server.start()
    out = outlet(tmp_path, sink(platform.url, platform.gateway_token), platform.enterprise)
    await out.start(None)
    try:
        for i in range(10):
            await out.submit("scale", [Sample("scale", "flow", 100.0 + i, ts=T0 + i),
                                       Sample.bad("scale", "total", "timeout", ts=T0 + i)])
        await out.submit("washer", [Sample("washer", "running", True, ts=T0)])
        assert await until(lambda: sink_stats(out)["delivered_batches"] == 11)
        st = sink_stats(out)
        assert st["connected"] and st["rejected_batches"] == 0 and st["duplicates"] == 0 and st["last_error"] is None
        assert await until(lambda: out.stats()["buffer"]["depth_batches"] == 0)
    finally:
        await out.stop()
    rows = platform.get(f"/api/v1/enterprises/{platform.enterprise}/telemetry/latest")
    latest = {(r["device"], r["tag"]): r for r in rows}
    assert latest[("scale", "flow")]["value"] == 109.0 and latest[("scale", "flow")]["quality"] == "good"
    assert latest[("scale", "total")]["quality"] == "bad" and latest[("scale", "total")]["error"] == "timeout"
    assert latest[("washer", "running")]["value"] is True
    assert latest[("scale", "flow")]["gateway"] == "gw1"
    assert [p["value"] for p in platform.history("scale", "flow")] == [100.0 + i for i in range(10)]


async def test_platform_down_then_up_everything_arrives_once(tmp_path: Path, platform: Platform) -> None:
    out = outlet(tmp_path, sink(platform.url, platform.gateway_token, concurrency=3), platform.enterprise)
    await out.start(None)
    try:
        for i in range(40):
            await out.submit("scale", [Sample("scale", "flow", float(i), ts=T0 + i)])
        assert await until(lambda: sink_stats(out)["failures"] >= 3)
        st = out.stats()
        assert st["sinks"]["http"]["delivered_batches"] == 0 and st["buffer"]["depth_batches"] == 40
        assert not st["sinks"]["http"]["connected"] and "cannot post" in st["sinks"]["http"]["last_error"]
        platform.server.start()
        assert await until(lambda: sink_stats(out)["delivered_batches"] == 40)
        # and down again in the middle of a stream, then back on the same port
        platform.server.stop()
        failed = sink_stats(out)["failures"]
        for i in range(40, 60):
            await out.submit("scale", [Sample("scale", "flow", float(i), ts=T0 + i)])
        assert await until(lambda: sink_stats(out)["failures"] >= failed + 3)
        platform.server.start()
        assert await until(lambda: sink_stats(out)["delivered_batches"] == 60)
    finally:
        await out.stop()
    values = [p["value"] for p in platform.history("scale", "flow")]
    assert values == [float(i) for i in range(60)]  # each exactly once, in order
    assert platform.get(f"/api/v1/enterprises/{platform.enterprise}/telemetry/gaps") == []


async def test_a_batch_already_ingested_counts_as_delivered(tmp_path: Path, platform: Platform) -> None:
    platform.server.start()
    out = outlet(tmp_path, sink(platform.url, platform.gateway_token), platform.enterprise)
    await out.start(None)
    try:
        assert out.buffer is not None
        # the same batch reached the platform before (e.g. the answer was lost): post seq 1 by hand
        body = {"gateway": "gw1", "device": "scale", "epoch": out.buffer.epoch, "seq": 1,
                "samples": [{"tag": "flow", "value": 1.5, "quality": "good", "ts": "2026-09-21T10:00:00Z"}]}
        r = await asyncio.to_thread(httpx.post, platform.url + "/api/v1/ingest", json=body,
                                    headers={"Authorization": f"Bearer {platform.gateway_token}"})
        assert r.status_code == 200 and r.json()["accepted"]
        await out.submit("scale", [Sample("scale", "flow", 1.5, ts=T0)])
        await out.submit("scale", [Sample("scale", "flow", 2.5, ts=T0 + 1)])
        assert await until(lambda: sink_stats(out)["delivered_batches"] == 2)
        st = sink_stats(out)
        assert st["duplicates"] == 1 and st["rejected_batches"] == 0
    finally:
        await out.stop()
    assert [p["value"] for p in platform.history("scale", "flow")] == [1.5, 2.5]


async def test_a_batch_the_platform_refuses_is_given_up_and_the_rest_goes_on(
    tmp_path: Path, platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    platform.server.start()
    out = outlet(tmp_path, sink(platform.url, platform.gateway_token), platform.enterprise)
    await out.start(None)
    try:
        await out.submit("scale", [Sample("scale", "flow", 1.0, ts=T0)])
        await out.submit("scale", [Sample("scale", "x" * 150, 2.0, ts=T0 + 1)])  # tag name too long: 422
        await out.submit("scale", [Sample("scale", "flow", 3.0, ts=T0 + 2)])
        assert await until(lambda: sink_stats(out)["delivered_batches"] == 3)
        st = sink_stats(out)
        assert st["rejected_batches"] == 1 and st["rejected_samples"] == 1
        assert "422" in st["last_error"] and "tag" in st["last_error"]
        assert any("giving it up" in r.getMessage() for r in caplog.records)
    finally:
        await out.stop()
    assert [p["value"] for p in platform.history("scale", "flow")] == [1.0, 3.0]


async def test_a_wrong_token_keeps_everything_buffered(tmp_path: Path, platform: Platform) -> None:
    platform.server.start()
    out = outlet(tmp_path, sink(platform.url, "mgt_wrong"), platform.enterprise)
    await out.start(None)
    try:
        for i in range(3):
            await out.submit("scale", [Sample("scale", "flow", float(i), ts=T0 + i)])
        assert await until(lambda: sink_stats(out)["failures"] >= 6)
        st = out.stats()
        assert st["sinks"]["http"]["delivered_batches"] == 0 and st["buffer"]["depth_batches"] == 3
        assert "401" in st["sinks"]["http"]["last_error"]
    finally:
        await out.stop()


class Scripted:
    """Answers `POST /api/v1/ingest` from a script of status codes and records what it got."""

    def __init__(self, codes: list[int], status_route: bool = True) -> None:
        self.codes = codes
        self.batches: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.auth: set[str] = set()

        async def ingest(request: Request) -> JSONResponse:
            body = await request.json()
            self.auth.add(request.headers.get("authorization", ""))
            code = self.codes.pop(0) if self.codes else 200
            if code == 200:
                self.batches.append(body)
                return JSONResponse({"accepted": True, "duplicate": False, "samples": len(body["samples"]), "gaps": []})
            return JSONResponse({"detail": f"scripted {code}"}, status_code=code)

        async def status(request: Request) -> JSONResponse:
            self.statuses.append(await request.json())
            return JSONResponse({"ok": True})

        routes = [Route("/api/v1/ingest", ingest, methods=["POST"])]
        if status_route:
            routes.append(Route("/api/v1/ingest/status", status, methods=["POST"]))
        self.app = Starlette(routes=routes)


async def test_server_errors_are_retried_and_order_is_kept(tmp_path: Path) -> None:
    scripted = Scripted([503, 500, 200, 502])
    server = Served(scripted.app)
    server.start()
    out = outlet(tmp_path, sink(server.url, "tok", concurrency=1), unique("E"))
    await out.start(None)
    try:
        for i in range(4):
            await out.submit("scale", [Sample("scale", "flow", float(i), ts=T0 + i)])
        assert await until(lambda: sink_stats(out)["delivered_batches"] == 4)
        assert sink_stats(out)["failures"] == 3 and sink_stats(out)["rejected_batches"] == 0
    finally:
        await out.stop()
        server.stop()
    assert [b["seq"] for b in scripted.batches] == [1, 2, 3, 4]
    assert [b["samples"][0]["value"] for b in scripted.batches] == [0.0, 1.0, 2.0, 3.0]
    assert all(set(b) == {"gateway", "device", "epoch", "seq", "samples"} for b in scripted.batches)
    assert scripted.auth == {"Bearer tok"}


async def test_device_status_is_posted_on_start_and_on_change_and_offline_on_stop(tmp_path: Path) -> None:
    scripted = Scripted([])
    server = Served(scripted.app)
    server.start()
    out = outlet(tmp_path, sink(server.url, "tok"), unique("E"))
    await out.start(None)
    try:
        assert await until(lambda: len(scripted.statuses) >= 1)
        first = scripted.statuses[0]
        assert first["online"] is True and set(first["devices"]) == {"scale", "washer"}
        assert first["devices"]["scale"]["state"] == "down"
        out.device_state("scale", True, T0, None)
        assert await until(lambda: any(s["devices"]["scale"]["state"] == "up" for s in scripted.statuses))
        assert await until(lambda: sink_stats(out)["status_supported"] is True)
    finally:
        await out.stop()
        server.stop()
    assert scripted.statuses[-1]["online"] is False


async def test_a_platform_without_a_status_route_still_gets_the_data(tmp_path: Path) -> None:
    scripted = Scripted([], status_route=False)
    server = Served(scripted.app)
    server.start()
    out = outlet(tmp_path, sink(server.url, "tok"), unique("E"))
    await out.start(None)
    try:
        await out.submit("scale", [Sample("scale", "flow", 1.0, ts=T0)])
        assert await until(lambda: sink_stats(out)["status_supported"] is False)
        assert await until(lambda: sink_stats(out)["delivered_batches"] == 1)
    finally:
        await out.stop()
        server.stop()
    assert scripted.statuses == [] and len(scripted.batches) == 1


def test_http_entries_are_checked_with_field_and_what_is_allowed() -> None:
    assert check_sink({"type": "http", "url": "http://127.0.0.1:8000", "token": "t"}) == []
    problems = {p.field: p.message for p in check_sink(
        {"type": "http", "url": "ftp://x", "concurrency": 0, "status": "yes", "bucket": "b", "retry_min": "zz"})}
    assert "allowed: http, https" in problems["url"]
    assert "allowed: 1 to 64" in problems["concurrency"]
    assert "allowed: true, false" in problems["status"]
    assert "unknown field for type http" in problems["bucket"]
    assert "not a duration" in problems["retry_min"]
    assert check_sink({"type": "http"})[0].field == "url"
    assert "allowed: mqtt, influxdb, http" in check_sink({"type": "kafka"})[0].message
    s = parse_sink({"type": "http", "url": "https://platform.example/minegate/", "token": "t", "timeout": "3s"}, "http")
    assert isinstance(s, HttpSettings)
    assert (s.url, s.timeout, s.concurrency, s.status, s.tls is not None) == (
        "https://platform.example/minegate", 3.0, 4, True, True)


async def test_device_status_reaches_the_real_platform(tmp_path: Path, platform: Platform) -> None:
    platform.server.start()
    out = outlet(tmp_path, sink(platform.url, platform.gateway_token), platform.enterprise)
    path = f"/api/v1/enterprises/{platform.enterprise}"
    await out.start(None)
    try:
        out.device_state("scale", True, T0, None)
        out.device_state("washer", False, T0, "connection refused")

        def states() -> dict[str, Any]:
            return {d["device"]: d for d in platform.get(f"{path}/devices") if d.get("gateway") == "gw1"}

        assert await until(lambda: states().get("scale", {}).get("state") == "up"
                           and states().get("washer", {}).get("state") == "down")
        assert states()["washer"]["error"] == "connection refused"
        assert platform.get(f"{path}/gateways")[0]["online"] is True
        assert await until(lambda: sink_stats(out)["status_supported"] is True)
    finally:
        await out.stop()
    assert platform.get(f"{path}/gateways")[0]["online"] is False
