"""OPC UA subscription throughput: the driver vs a bare asyncua client subscription, same run.

An asyncua server in a child process holds N Double variables and changes every one of them once a
period (default 5,000 every second); a `Cycle` variable counts its completed change rounds. The
client side, in this process, subscribes to all N, two ways, one after the other against the same
server (baseline first), each for the same window:
  asyncua     a bare asyncua `Client.create_subscription(handler)` + `subscribe_data_change(nodes)`,
              the notification handler only counts (the baseline)
  driver      `OpcUaDriver.subscribe(tags, callback)`: samples with quality and timestamps,
              monitored items created within MaxMonitoredItemsPerCall, the callback only counts
Both ask for sampling = publishing interval = the period and queue size 1 (the OPC UA default: the
latest value per publishing interval). Figures per mode: time to the first complete set of values,
notifications/s, notifications per server change in the window (1.00 = nothing missed), and this
process's CPU per notification (the server's CPU is in the child), each as a ratio to the baseline.
The server's change rate caps notifications/s for both: the telling ratio is CPU per notification.

    .venv/bin/python bench/opcua_bench.py [--quick] [--vars 5000] [--period 1.0] [--window 10]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

NS_URI = "urn:minegate:bench"
QUEUE_SIZE = 1


# --- server (child process) -------------------------------------------------------------------

def _serve(n: int, period: float, pipe: Connection) -> None:
    asyncio.run(_serve_async(n, period, pipe))


async def _serve_async(n: int, period: float, pipe: Connection) -> None:
    from asyncua import Server, ua

    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    server = Server()
    await server.init()
    server.set_endpoint("opc.tcp://127.0.0.1:0/bench/")
    ns = await server.register_namespace(NS_URI)
    holder = await server.nodes.objects.add_object(ua.NodeId("Bench", ns), "Bench")
    ids = []
    for i in range(n):
        node = await holder.add_variable(ua.NodeId(f"Bench.{i}", ns), f"V{i}", 0.0)
        ids.append(node.nodeid)
    cycle = await holder.add_variable(ua.NodeId("Bench.Cycle", ns), "Cycle", ua.Variant(0, ua.VariantType.Int64))
    await server.start()
    assert server.bserver is not None
    pipe.send(("ready", server.bserver.port, ns))
    loop = asyncio.get_running_loop()
    tick = loop.time()
    k = 0
    late = 0
    while not pipe.poll():
        k += 1
        now = datetime.now(UTC)
        for i, nodeid in enumerate(ids):
            dv = ua.DataValue(ua.Variant(float(k * 1000 + i % 1000), ua.VariantType.Double), SourceTimestamp=now)
            await server.write_attribute_value(nodeid, dv)
            if i % 500 == 499:
                await asyncio.sleep(0)  # let publish responses out while a round is being written
        await server.write_attribute_value(cycle.nodeid, ua.DataValue(ua.Variant(k, ua.VariantType.Int64)))
        tick += period
        delay = tick - loop.time()
        if delay < 0:
            late += 1
            tick = loop.time()
        await asyncio.sleep(max(0.0, delay))
    pipe.send(("stopped", k, late))
    await server.stop()


# --- client side ------------------------------------------------------------------------------

@dataclass
class Result:
    mode: str
    first_set: float
    rate: float
    per_change: float
    cpu_us: float


async def _measure(count: Callable[[], int], cycles: Callable[[], Awaitable[int]], n: int, window: float,
                   started: float) -> tuple[float, float, float, float]:
    deadline = time.monotonic() + 300
    while count() < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count()} of {n} initial values after 300 s")
        await asyncio.sleep(0.01)
    first = time.monotonic() - started
    await asyncio.sleep(2.0)  # the initial burst is not the steady state
    k0, c0, t0, p0 = await cycles(), count(), time.monotonic(), time.process_time()
    await asyncio.sleep(window)
    c1, t1, p1, k1 = count(), time.monotonic(), time.process_time(), await cycles()
    got = max(1, c1 - c0)
    return first, got / (t1 - t0), got / max(1, (k1 - k0) * n), (p1 - p0) / got * 1e6


async def bare_asyncua(endpoint: str, ns: int, n: int, period: float, window: float) -> Result:
    from asyncua import Client, ua

    class Counter:
        seen = 0

        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            Counter.seen += 1

        def status_change_notification(self, status: Any) -> None:
            pass

    # a long health-check interval, so a busy event loop is not mistaken for a dead server
    client = Client(endpoint, timeout=30, watchdog_intervall=30)
    started = time.monotonic()
    await client.connect()
    cycle = client.get_node(ua.NodeId("Bench.Cycle", ns))

    async def cycles() -> int:
        return int(await cycle.read_value())

    try:
        sub = await client.create_subscription(period * 1000, Counter())
        nodes = [client.get_node(ua.NodeId(f"Bench.{i}", ns)) for i in range(n)]
        await sub.subscribe_data_change(nodes, sampling_interval=period * 1000, queuesize=QUEUE_SIZE)
        measured = await _measure(lambda: Counter.seen, cycles, n, window, started)
    finally:
        await client.disconnect()
    return Result("asyncua (baseline)", *measured)


async def driver(endpoint: str, ns: int, n: int, period: float, window: float) -> Result:
    from devices.model import DeviceSpec, Sample, TagSpec
    from drivers.opcua import OpcUaDriver

    seen = 0

    def callback(samples: list[Sample]) -> None:
        nonlocal seen
        seen += len(samples)

    tags = [TagSpec(f"v{i}", f"ns={ns};s=Bench.{i}") for i in range(n)]
    cycle = TagSpec("cycle", f"ns={ns};s=Bench.Cycle")
    spec = DeviceSpec("bench", "opcua", connection={"endpoint": endpoint, "timeout": 30}, interval=period,
                      options={"queue_size": QUEUE_SIZE})
    drv = OpcUaDriver(spec)

    async def cycles() -> int:
        return int((await drv.read([cycle]))[0].value)

    started = time.monotonic()
    await drv.connect()
    try:
        await drv.subscribe(tags, callback)
        measured = await _measure(lambda: seen, cycles, n, window, started)
    finally:
        await drv.close()
    return Result("driver", *measured)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 variables, 3 s window")
    ap.add_argument("--vars", type=int, default=None, help="subscribed variables (default 5000; quick 1000)")
    ap.add_argument("--period", type=float, default=1.0, help="seconds between changes of every variable")
    ap.add_argument("--window", type=float, default=None, help="measured window in seconds (default 10)")
    args = ap.parse_args()
    n = args.vars or (1000 if args.quick else 5000)
    window = args.window or (3.0 if args.quick else 10.0)
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(n, args.period, child), daemon=True)
    server.start()
    try:
        if not parent.poll(300):
            raise RuntimeError("the server did not start within 300 s")
        _, port, ns = parent.recv()
        endpoint = f"opc.tcp://127.0.0.1:{port}/bench/"
        results = [asyncio.run(bare_asyncua(endpoint, ns, n, args.period, window)),
                   asyncio.run(driver(endpoint, ns, n, args.period, window))]
        parent.send("stop")
        rounds, late = parent.recv()[1:] if parent.poll(60) else ("?", "?")
    finally:
        server.join(30)
        if server.is_alive():
            server.terminate()
            server.join(5)
    base = results[0]
    print(f"OPC UA: {n} variables changing every {args.period:g} s ({n / args.period:,.0f} changes/s asked;"
          f" {rounds} change rounds, {late} of them late), window {window:g} s per mode")
    print("| mode | first full set s | notifications/s | per server change | CPU µs/notification |"
          " notif/s vs baseline | CPU/notif vs baseline |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.mode} | {r.first_set:.2f} | {r.rate:,.0f} | {r.per_change:.2f} | {r.cpu_us:.1f} |"
              f" {r.rate / base.rate:.2f}× | {r.cpu_us / base.cpu_us:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
