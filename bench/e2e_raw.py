"""Raw protocol ceiling of the end-to-end benchmark: the bare pymodbus client, nothing else.

Run by `bench/e2e_modbus.py` pinned to the gateway core, against the same load generator. One
task and one connection per device read the same register spans the gateway's planner makes
(the map is contiguous: 125-register spans) every `interval` seconds, and throw the answers
away: no decoding, no samples, no buffer, no MQTT. What minegate costs above this is the price
of everything that makes it a gateway.

Prints one JSON line per interval, between cycles: `{"t", "cpu", "reads", "tags", "overruns",
"errors"}` (cumulative).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import signal
import sys
import time

from pymodbus.client import AsyncModbusTcpClient

MAX_REGS = 125


class Totals:
    reads = 0
    tags = 0
    overruns = 0
    errors = 0


async def poll(port: int, registers: int, tags: int, interval: float) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, timeout=2)
    await client.connect()
    spans = [(s, min(MAX_REGS, registers - s)) for s in range(0, registers, MAX_REGS)]
    loop = asyncio.get_running_loop()
    due = loop.time()
    try:
        while True:
            try:
                for start, count in spans:
                    await client.read_holding_registers(start, count=count, device_id=1)
                    Totals.reads += 1
                Totals.tags += tags
            except Exception:
                Totals.errors += 1
                if not client.connected:
                    await asyncio.sleep(interval)
                    await client.connect()
            due += interval
            now = loop.time()
            if now > due:
                missed = int((now - due) // interval) + 1
                Totals.overruns += missed
                due += missed * interval
            await asyncio.sleep(due - now)
    finally:
        client.close()


async def main_async(args: argparse.Namespace) -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    ports = [int(p) for p in args.ports.split(",")]
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = [asyncio.create_task(poll(p, args.registers, args.tags, args.interval)) for p in ports]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    deadline = time.monotonic() + args.max_seconds
    k = 0
    while not stop.is_set() and time.monotonic() < deadline:
        # lines half an interval after the polls start, so a window between two holds whole cycles
        k += 1
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, started + (k - 0.5) * args.interval - loop.time()))
        except TimeoutError:
            pass
        ru = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"t": time.time(), "cpu": ru.ru_utime + ru.ru_stime, "reads": Totals.reads,
                          "tags": Totals.tags, "overruns": Totals.overruns, "errors": Totals.errors}), flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ports", required=True, help="comma-separated device ports")
    ap.add_argument("--registers", type=int, required=True, help="registers per device")
    ap.add_argument("--tags", type=int, required=True, help="tags per device (for the tag count)")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=1800.0)
    asyncio.run(main_async(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
