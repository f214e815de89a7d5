"""Platform benchmarks on PostgreSQL (127.0.0.1:5432) and a private Mosquitto.

1. Ingest: samples/s from MQTT into PostgreSQL through the platform's consumer, 1 and 2 workers
   (separate processes sharing one subscription; 10 gateways publishing), beside a baseline measured
   in the same run: the same rows inserted straight into a bare table with the same driver and batch
   size (no de-duplication, latest values, statistics or alarms).
2. API latency under 50 concurrent clients (httpx async) against `platform serve`: p50/p99 of the
   ledger summary and the telemetry latest endpoints, beside the unauthenticated health endpoint.

Run: `.venv/bin/python bench/platform_bench.py [--quick]`. A temporary database and a private
Mosquitto (on a free port) are made and removed; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devices.model import iso_ms  # noqa: E402
from platform_api import db  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
T0 = 1_796_284_800

WORKER = """
import sys, time, signal
from platform_api import db
from platform_api.ingest.mqtt_consumer import MqttConsumer
engine = db.make_engine(sys.argv[1])
w = MqttConsumer(engine, sys.argv[4], group=sys.argv[2], batch_max=500, flush_ms=50)
assert w.start(10)
print("ready", flush=True)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
end = time.monotonic() + float(sys.argv[3])
while not stop and time.monotonic() < end:
    time.sleep(0.1)
w.stop()
"""


GATEWAYS = 10


def payloads(code: str, batches: int, per_batch: int, epoch: str) -> list[tuple[str, bytes]]:
    """Batches from 10 gateways (each its own seq series), 10 devices each, as a site would send."""
    out = []
    for k in range(batches):
        gw, seq = f"gw{k % GATEWAYS}", k // GATEWAYS + 1
        dev = f"dev{seq % 10}"
        body = {"gateway": gw, "device": dev, "epoch": epoch, "seq": seq,
                "samples": [{"tag": f"t{i}", "value": seq * 0.5 + i, "quality": "good", "ts": iso_ms(T0 + seq)}
                            for i in range(per_batch)]}
        out.append((f"minegate/v1/{code}/{gw}/{dev}/data", orjson.dumps(body)))
    return out


def baseline_insert(url: str, batches: int, per_batch: int) -> float:
    """Same rows into a bare table with the same driver and batching, nothing else: the floor."""
    from sqlalchemy import BigInteger, Column, Float, MetaData, String, Table

    e = create_engine(db.normalize_url(url))
    md = MetaData()
    bare = Table("bench_bare", md, *(Column(c, String) for c in ("enterprise", "gateway", "device", "tag")),
                 Column("ts_ms", BigInteger), Column("value", Float), Column("quality", String))
    md.create_all(e)
    rows = [{"enterprise": "B", "gateway": f"gw{k % GATEWAYS}", "device": f"dev{k % 10}", "tag": f"t{i}",
             "ts_ms": (T0 + k) * 1000, "value": k * 0.5 + i, "quality": "good"}
            for k in range(batches) for i in range(per_batch)]
    t = time.perf_counter()
    chunk = 500 * per_batch
    for k in range(0, len(rows), chunk):
        with e.begin() as c:
            c.execute(bare.insert(), rows[k:k + chunk])
    dt = time.perf_counter() - t
    md.drop_all(e)
    e.dispose()
    return len(rows) / dt


def private_broker(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A Mosquitto with the settings `broker-acl --conf` writes (inflight window, no queue drops);
    the default broker drops QoS 1 messages beyond 1,000 queued for a busy subscriber."""
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_inflight_messages 1000\nmax_queued_messages 200000\n")
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import socket

    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("mosquitto did not start")


def mqtt_ingest(url: str, workers: int, batches: int, per_batch: int, broker_port: int) -> float:
    engine = db.make_engine(url)
    code = "BENCH" + uuid.uuid4().hex[:6].upper()
    group = f"bench-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, group, "300", f"mqtt://127.0.0.1:{broker_port}"],
                              env=env, stdout=subprocess.PIPE) for _ in range(workers)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        msgs = payloads(code, batches, per_batch, "e1")
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}",
                          protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(1000)
        pub.max_queued_messages_set(0)
        pub.connect("127.0.0.1", broker_port)
        pub.loop_start()
        t = time.perf_counter()
        infos = [pub.publish(topic, body, qos=1) for topic, body in msgs]
        expected = batches * per_batch
        deadline = time.monotonic() + 300
        n = 0
        while time.monotonic() < deadline:
            with engine.connect() as c:
                n = int(c.execute(select(func.count()).select_from(db.samples)
                                  .where(db.samples.c.enterprise == code)).scalar())
            if n >= expected:
                break
            time.sleep(0.05)
        dt = time.perf_counter() - t
        for i in infos:
            i.wait_for_publish(10)
        pub.loop_stop()
        pub.disconnect()
        assert n == expected, f"stored {n} of {expected} samples"
        return expected / dt
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        engine.dispose()


async def latency(base: str, path: str, token: str | None, clients: int, requests: int) -> tuple[float, float]:
    lat: list[float] = []
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    per_client = max(1, requests // clients)

    async def one(client: httpx.AsyncClient) -> None:
        for _ in range(per_client):
            t = time.perf_counter()
            r = await client.get(base + path, headers=headers)
            lat.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text

    # idle connections are dropped before the server's 5 s keep-alive ends, so none is reused as it closes
    limits = httpx.Limits(max_connections=clients, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.wait_for(asyncio.gather(*(one(client) for _ in range(clients))), 600)
    q = statistics.quantiles(lat, n=100)
    return q[49] * 1000, q[98] * 1000


def api_latency(url: str, clients: int, requests: int) -> dict[str, tuple[float, float]]:
    from platform_api.auth import create_token

    engine = db.make_engine(url)
    db.create_tables(engine)
    admin = create_token(engine, "admin")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINEGATE_JOBS_ENABLED": "false"}
    import tempfile

    log = tempfile.NamedTemporaryFile(prefix="mg-bench-serve-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "platform_api.cli", "serve", "--port", str(port),
                             "--database-url", url], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        code = "LAT" + uuid.uuid4().hex[:6].upper()
        h = {"Authorization": f"Bearer {admin}"}
        httpx.post(base + "/enterprises", headers=h, json={"code": code, "name": "bench", "kind": "coal_mine",
                                                            "approved_capacity_tpa": "1200000"}).raise_for_status()
        ent = create_token(engine, "enterprise", enterprise=code)
        gw = create_token(engine, "gateway", enterprise=code, gateway="gw1")
        for k in range(300):  # a month of entries
            httpx.post(base + f"/enterprises/{code}/ledger/entries", headers={"Authorization": f"Bearer {ent}"},
                       json={"kind": "production", "product": "raw", "stockpile": "yard", "tonnes": "100.000",
                             "at": f"2026-11-{1 + k % 30:02d}T{8 + k % 8:02d}:00"}).raise_for_status()
        for seq in range(1, 21):  # 20 devices x 50 tags
            httpx.post(base + "/ingest", headers={"Authorization": f"Bearer {gw}"}, json={
                "gateway": "gw1", "device": f"dev{seq}", "epoch": "e", "seq": seq,
                "samples": [{"tag": f"t{i}", "value": i, "quality": "good", "ts": iso_ms(T0 + seq)}
                            for i in range(50)]}).raise_for_status()
        out = {}
        for name, path, tok in (("health (baseline)", "/health", None),
                                ("ledger summary", f"/enterprises/{code}/ledger/summary?period=2026-11", ent),
                                ("telemetry latest", f"/enterprises/{code}/telemetry/latest", ent)):
            asyncio.run(latency(base, path, tok, clients, clients))  # warm-up
            out[name] = asyncio.run(latency(base, path, tok, clients, requests))
        return out
    except Exception:
        print(f"server log: {log.name}", file=sys.stderr)
        raise
    finally:
        proc.terminate()
        proc.wait(30)
        engine.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    args = ap.parse_args()
    batches, per_batch = (1000, 20) if args.quick else (5000, 20)
    requests = 500 if args.quick else 2000
    name = f"mg_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(f"{PG}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        from mine_ledger import Ledger

        e = db.make_engine(url)
        Ledger(e).migrate()
        db.create_tables(e)
        e.dispose()
        mode = "quick" if args.quick else "full"
        print(f"# platform bench ({mode}): PostgreSQL, {batches} batches x {per_batch} samples")
        base = baseline_insert(url, batches, per_batch)
        print(f"ingest baseline: bare-table insert              {base:10.0f} samples/s  1.00x")
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="mg-bench-"))
        broker, port = private_broker(tmp)
        try:
            rates = [mqtt_ingest(url, w, batches, per_batch, port) for w in (1, 2)]
        finally:
            broker.terminate()
            broker.wait(10)
        for w, r in zip((1, 2), rates, strict=True):
            print(f"ingest MQTT -> platform, {w} worker{'s' if w > 1 else ' '}             {r:10.0f} samples/s  "
                  f"{r / base:.2f}x")
        res = api_latency(url, 50, requests)
        b50, b99 = res["health (baseline)"]
        print(f"# API, 50 concurrent clients, {requests} requests each endpoint (p50 / p99 ms, ratio to baseline)")
        for k, (p50, p99) in res.items():
            print(f"{k:<20} p50 {p50:7.1f} ms ({p50 / b50:5.2f}x)   p99 {p99:7.1f} ms ({p99 / b99:5.2f}x)")
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
