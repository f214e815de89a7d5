"""Northbound throughput: buffer -> MQTT (local Mosquitto), live and while draining a backlog.

All modes use the same batches (50 samples, one per device cycle) and the same in-flight window
(100 QoS 1 messages), in the same run, and are reported as ratios:

  raw paho        bare paho-mqtt QoS 1 publishes of ready-made payloads: the ceiling, no buffer
  steady state    100 device tasks submit to the outlet while its MQTT sink delivers: every batch
                  fsync'd into the buffer, published, PUBACKed, acknowledged and released
  drain           a backlog of 1,000,000 samples stored while the broker was unreachable, then
                  delivered once it is back (the replay speed after an outage)

Also bytes per sample on disk for that backlog. The drain target is >= 10x the live rate; the
live rate of a plant is its polling rate (e.g. 2,000 tags/s), far below the steady-state
ceiling, so the drain is also reported against the ceiling itself.

Run: .venv/bin/python bench/northbound_bench.py [--quick] [--broker-port 1883]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.model import Sample
from gateway.northbound import build_outlet
from gateway.northbound.encoding import Envelope, samples_json
from gateway.northbound.outlet import NorthboundOutlet
from gateway.settings import BufferSettings, GatewayConfig

BATCH = 50
DEVICES = 100
INFLIGHT = 100
LIVE_PLANT = 2_000  # samples/s of a typical site: 2,000 tags polled every second


def batch(device: int, cycle: int) -> list[Sample]:
    ts = 1_800_000_000.0 + cycle
    return [Sample(f"dev{device}", f"tag_{k}", round(100.0 + k * 0.25 + cycle * 0.01, 3), ts=ts)
            for k in range(BATCH)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(path: str, port: int, enterprise: str) -> GatewayConfig:
    sink = {"type": "mqtt", "url": f"mqtt://127.0.0.1:{port}", "inflight": INFLIGHT,
            "reconnect_min": "100ms", "reconnect_max": "1s"}
    return GatewayConfig(id="bench", enterprise=enterprise, buffer=BufferSettings(path=path, max_mb=4096),
                         northbound=(sink,))


def raw_paho(port: int, batches: int, enterprise: str) -> float:
    """Samples/s of bare paho QoS 1 publishing with the same window."""
    env = Envelope("bench", "0" * 16)
    payloads = [env.wrap(f"dev{i % DEVICES}", i + 1, samples_json(batch(i % DEVICES, i))) for i in range(batches)]
    done = threading.Event()
    window = threading.Semaphore(INFLIGHT)  # the same window the sink keeps
    acked = 0

    def on_publish(*_: Any) -> None:
        nonlocal acked
        acked += 1
        window.release()
        if acked == batches:
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{uuid.uuid4().hex[:6]}")
    c.max_inflight_messages_set(INFLIGHT)
    c.max_queued_messages_set(0)
    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        window.acquire()
        c.publish(f"minegate/v1/{enterprise}/bench/dev{i % DEVICES}/data", p, qos=1)
    if not done.wait(600):
        raise RuntimeError("raw paho: PUBACKs missing")
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return batches * BATCH / elapsed


def file_bytes(path: str) -> int:
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


async def wait_delivered(out: NorthboundOutlet, samples: int, limit: float = 900) -> None:
    deadline = time.monotonic() + limit
    while out.stats()["sinks"]["mqtt"]["delivered_samples"] < samples:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not delivered within {limit}s: {out.stats()['sinks']['mqtt']}")
        await asyncio.sleep(0.01)


async def feed(out: NorthboundOutlet, per_device: int) -> None:
    # made beforehand, so building Sample objects is not what is measured
    made = {d: [batch(d, c) for c in range(8)] for d in range(DEVICES)}

    async def device(d: int) -> None:
        for cycle in range(per_device):
            await out.submit(f"dev{d}", made[d][cycle % 8])

    await asyncio.gather(*(device(d) for d in range(DEVICES)))


async def steady(workdir: Path, port: int, batches: int, enterprise: str) -> float:
    out = build_outlet(config(str(workdir / "steady.db"), port, enterprise))
    assert isinstance(out, NorthboundOutlet)
    await out.start(None)
    for _ in range(1000):
        if out.stats()["sinks"]["mqtt"]["connected"]:
            break
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await feed(out, batches // DEVICES)
    await wait_delivered(out, (batches // DEVICES) * DEVICES * BATCH)
    elapsed = time.perf_counter() - t0
    await out.stop()
    return (batches // DEVICES) * DEVICES * BATCH / elapsed


async def drain(workdir: Path, port: int, backlog: int, enterprise: str) -> tuple[float, float, float]:
    """(drain samples/s, bytes per sample on disk, store-only samples/s while building the backlog)."""
    path = str(workdir / "backlog.db")
    per_device = backlog // BATCH // DEVICES
    total = per_device * DEVICES * BATCH
    building = build_outlet(config(path, free_port(), enterprise))  # nobody listens there: an outage
    assert isinstance(building, NorthboundOutlet)
    await building.start(None)
    t0 = time.perf_counter()
    await feed(building, per_device)
    store_rate = total / (time.perf_counter() - t0)
    await building.stop()
    on_disk = file_bytes(path)
    out = build_outlet(config(path, port, enterprise))
    assert isinstance(out, NorthboundOutlet)
    t0 = time.perf_counter()
    await out.start(None)
    await wait_delivered(out, total)
    elapsed = time.perf_counter() - t0
    await out.stop()
    return total / elapsed, on_disk / total, store_rate


def clear_status(port: int, enterprise: str) -> None:
    """Remove the retained status the run left on the broker."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-clear-{uuid.uuid4().hex[:6]}")
    try:
        c.connect("127.0.0.1", port)
        c.loop_start()
        c.publish(f"minegate/v1/{enterprise}/bench/status", b"", qos=1, retain=True).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()
    except (OSError, RuntimeError, ValueError):
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run (smoke test)")
    ap.add_argument("--broker-port", type=int, default=1883)
    ap.add_argument("--backlog", type=int, default=None, help="samples in the backlog (default 1,000,000)")
    args = ap.parse_args()
    backlog = args.backlog or (100_000 if args.quick else 1_000_000)
    batches = 2_000 if args.quick else 10_000
    enterprise = f"BENCH{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="nb-bench-"))
    try:
        raw = raw_paho(args.broker_port, batches, enterprise)
        live = asyncio.run(steady(workdir, args.broker_port, batches, enterprise))
        drained, per_sample, stored = asyncio.run(drain(workdir, args.broker_port, backlog, enterprise))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        clear_status(args.broker_port, enterprise)
    print(f"northbound: {BATCH}-sample batches, {DEVICES} device tasks, QoS 1 window {INFLIGHT}, "
          f"Mosquitto on 127.0.0.1:{args.broker_port}")
    print(f"  raw paho QoS 1 (baseline)       {raw:12,.0f} samples/s   1.00x")
    print(f"  steady state buffer -> MQTT     {live:12,.0f} samples/s   {live / raw:.2f}x raw")
    print(f"  store only (broker down)        {stored:12,.0f} samples/s   {stored / raw:.2f}x raw")
    print(f"  drain {backlog:,} backlog     {drained:12,.0f} samples/s   {drained / raw:.2f}x raw, "
          f"{drained / live:.2f}x steady state, {drained / LIVE_PLANT:.0f}x a {LIVE_PLANT:,} samples/s plant")
    print(f"  on disk                         {per_sample:12.1f} bytes/sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())
