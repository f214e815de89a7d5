"""HTTP sink throughput: stored batches delivered to `POST /api/v1/ingest`, beside bare httpx.

Two servers, each under uvicorn in this process on 127.0.0.1: the real platform (SQLite, every
batch de-duplicated and stored) and an `accept` app that answers 200 at once (the sink's own
ceiling). On each, the sink (submit to the buffer, fsync'd, then POST and release after 2xx; the
clock runs from the first submit to the last release) and the baseline (bare httpx posting the
same ready-made payloads with the same concurrency, no buffer) deliver the same batches of 50
samples; the figure is the ratio in this run.

    .venv/bin/python bench/http_sink_bench.py [--quick] [--batches N] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devices.model import Sample
from gateway.northbound import build_outlet
from gateway.northbound.outlet import NorthboundOutlet
from gateway.settings import BufferSettings, GatewayConfig

SAMPLES = 50
T0 = 1_790_000_000.0


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.02)
    return server, t, f"http://127.0.0.1:{port}"


def accept_app() -> Starlette:
    async def ingest(request: Request) -> Response:
        await request.body()
        return Response(b'{"accepted":true,"duplicate":false,"samples":50,"gaps":[]}', media_type="application/json")

    async def status(request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    return Starlette(routes=[Route("/api/v1/ingest", ingest, methods=["POST"]),
                             Route("/api/v1/ingest/status", status, methods=["POST"])])


def samples(i: int) -> list[Sample]:
    return [Sample("dev", f"t{k}", float(i * SAMPLES + k), ts=T0 + i) for k in range(SAMPLES)]


async def run_sink(url: str, token: str, enterprise: str, batches: int, concurrency: int, tmp: Path) -> float:
    cfg = GatewayConfig(id="gw1", enterprise=enterprise, devices=(),
                        buffer=BufferSettings(path=str(tmp / f"buf-{time.monotonic_ns()}.db"), max_mb=512,
                                              max_age=86400.0),
                        northbound=({"type": "http", "url": url, "token": token, "concurrency": concurrency,
                                     "status": False},))
    out = build_outlet(cfg)
    assert isinstance(out, NorthboundOutlet)
    await out.start(None)
    try:
        ready = [samples(i) for i in range(batches)]
        t0 = time.perf_counter()
        # submitted together, as many device loops would: the buffer stores them in a few commits
        await asyncio.gather(*(out.submit("dev", s) for s in ready))
        while out.stats()["sinks"]["http"]["delivered_batches"] < batches:  # noqa: ASYNC110 - polls a counter
            await asyncio.sleep(0.005)
        return time.perf_counter() - t0
    finally:
        await out.stop()


async def run_raw(url: str, token: str, batches: int, concurrency: int) -> float:
    payloads = []
    epoch = f"raw{time.monotonic_ns()}"
    for i in range(batches):
        body = [{"tag": s.tag, "value": s.value, "quality": "good", "ts": "2026-09-21T10:00:00.000Z"}
                for s in samples(i)]
        payloads.append(orjson.dumps({"gateway": "gw1", "device": "dev", "epoch": epoch, "seq": i + 1,
                                      "samples": body}))
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                                 timeout=30) as client:
        t0 = time.perf_counter()
        for k in range(0, batches, concurrency):
            rs = await asyncio.gather(*(client.post(url + "/api/v1/ingest", content=p)
                                        for p in payloads[k:k + concurrency]))
            assert all(r.status_code == 200 for r in rs)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    batches = 200 if args.quick else args.batches
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from platform_api.app import create_app
    from platform_api.auth import create_token
    from platform_api.settings import PlatformSettings

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        app = create_app(PlatformSettings(database_url=f"sqlite:///{tmp}/p.db", jobs_enabled=False, audit=False))
        token = create_token(app.state.engine, "gateway", enterprise="EBENCH", gateway="gw1")
        servers = [("platform (SQLite)", *serve(app)), ("accept (200 at once)", *serve(accept_app()))]
        print(f"{batches} batches x {SAMPLES} samples, concurrency {args.concurrency}")
        print("| server | mode | batches/s | samples/s | vs bare httpx |")
        print("|---|---|---|---|---|")
        for name, server, thread, url in servers:
            raw = asyncio.run(run_raw(url, token, batches, args.concurrency))
            sink = asyncio.run(run_sink(url, token, "EBENCH", batches, args.concurrency, tmp))
            for mode, secs in (("bare httpx (baseline)", raw), ("http sink (buffer -> POST)", sink)):
                print(f"| {name} | {mode} | {batches / secs:,.0f} | {batches * SAMPLES / secs:,.0f} | "
                      f"{raw / secs:.2f}x |")
            server.should_exit = True
            thread.join(10)


if __name__ == "__main__":
    main()
