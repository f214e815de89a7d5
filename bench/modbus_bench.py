"""Modbus polling cost: the planner path against raw pymodbus and one request per tag.

100 devices x 100 tags (float32, scaled uint16, int32, register bits, with small gaps) behind 10
local pymodbus servers (10 units each, like 10 serial gateways), polled every second. The
servers run in a separate process, so the CPU seconds measured here are the gateway side only.
Each mode runs for the same time in the same run and is reported as a ratio:

  raw pymodbus   the same spans the planner chose, read with the bare client, not decoded
  planner        ModbusDriver.read: planned spans, block decoding, scaling, one Sample per tag
  one-per-tag    ModbusDriver with one_request_per_tag (what one-register-per-request gateways do)
  raw + lean     the bare client again, with the response classes the driver registers in
                 pymodbus (drivers/modbus/responses.py): the driver's own cost is planner / this

Run: .venv/bin/python bench/modbus_bench.py [--quick] [--seconds N] [--rounds N] [--devices N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymodbus.client import AsyncModbusTcpClient

from devices.model import DeviceSpec, TagSpec
from drivers.modbus import ModbusDriver
from drivers.modbus.responses import LEAN_RESPONSES

UNITS_PER_SERVER = 10
REGISTERS = 200


def device_tags() -> list[TagSpec]:
    """100 tags over ~170 registers: the planner needs two requests per device."""
    tags: list[TagSpec] = []
    addr = 0
    for i in range(50):
        tags.append(TagSpec(f"flow_{i}", f"HR{addr}", "float32", byte_order="CDAB"))
        addr += 2 + (2 if i % 10 == 9 else 0)  # a 2-register gap every 10 tags
    for i in range(30):
        tags.append(TagSpec(f"temp_{i}", f"HR{addr}", "uint16", scale=0.1))
        addr += 1
    for i in range(10):
        tags.append(TagSpec(f"total_{i}", f"HR{addr}", "int32"))
        addr += 2
    for i in range(10):
        tags.append(TagSpec(f"bit_{i}", f"HR{addr + i // 8}.{i % 8}"))
    return tags


def serve(count: int, pipe: Connection) -> None:
    """Server process: `count` TCP servers on free ports, UNITS_PER_SERVER units each."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    async def main() -> None:
        servers = []
        for _ in range(count):
            devices = [SimDevice(u, simdata=[SimData(0, values=[(u * 7 + a) & 0xFFFF for a in range(REGISTERS)],
                                                     datatype=DataType.REGISTERS)])
                       for u in range(1, UNITS_PER_SERVER + 1)]
            server = ModbusTcpServer(devices, address=("127.0.0.1", 0))
            await server.listen()
            servers.append(server)
        pipe.send([s.transport.sockets[0].getsockname()[1] for s in servers])  # type: ignore[attr-defined]
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        for s in servers:
            await s.shutdown()

    import logging

    logging.disable(logging.WARNING)
    asyncio.run(main())


@dataclass
class Result:
    mode: str
    tags: int
    requests: int
    cpu: float
    wall: float

    @property
    def cpu_per_10k(self) -> float:
        return self.cpu / self.tags * 10_000 if self.tags else float("inf")

    @property
    def tags_per_s(self) -> float:
        return self.tags / self.wall

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.wall


Job = Callable[[], Awaitable[tuple[int, int]]]
"""One device cycle: returns (tags read, requests sent)."""


async def poll(seconds: float, interval: float, jobs: Sequence[Job]) -> tuple[int, int]:
    """Run every job once per interval (back to back when it overruns) for `seconds`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    totals = [0, 0]

    async def run(job: Job, phase: float) -> None:
        due = loop.time() + phase
        await asyncio.sleep(phase)
        while loop.time() < end:
            tags, requests = await job()
            totals[0] += tags
            totals[1] += requests
            due += interval
            if due >= end:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))

    await asyncio.gather(*(run(job, interval * i / len(jobs)) for i, job in enumerate(jobs)))
    return totals[0], totals[1]


def specs(ports: Sequence[int], devices: int, options: dict[str, Any]) -> list[DeviceSpec]:
    tags = tuple(device_tags())
    return [DeviceSpec(f"dev{i}", "modbus", {"host": "127.0.0.1", "port": ports[i // UNITS_PER_SERVER],
                                             "unit": i % UNITS_PER_SERVER + 1, "timeout": 5.0},
                       tags, options=options) for i in range(devices)]


async def driver_jobs(ports: Sequence[int], devices: int,
                      options: dict[str, Any]) -> tuple[list[Job], list[ModbusDriver]]:
    drivers = [ModbusDriver(s) for s in specs(ports, devices, options)]
    for d in drivers:
        await d.connect()
    tags = list(drivers[0].device.tags)
    for d in drivers:  # warm up: connections, plans, decoders; and check the setup reads clean
        bad = sum(s.quality != "good" for s in await d.read(tags))
        if bad:
            raise SystemExit(f"{bad} bad samples from {d.device.name}; the bench setup is broken")

    def job(d: ModbusDriver) -> Job:
        async def once() -> tuple[int, int]:
            before = d.counters.requests
            samples = await d.read(tags)
            return len(samples), d.counters.requests - before
        return once

    return [job(d) for d in drivers], drivers


async def raw_jobs(ports: Sequence[int], devices: int,
                   lean: bool = False) -> tuple[list[Job], list[AsyncModbusTcpClient]]:
    """Bare pymodbus clients reading the planner's spans; `lean`: with the driver's response classes."""
    planner = ModbusDriver(specs(ports, 1, {})[0])
    tags = list(planner.device.tags)
    spans = [(p.detail["start"], p.detail["count"]) for p in planner.plan(tags)]
    clients = [AsyncModbusTcpClient("127.0.0.1", port=p, timeout=5.0, retries=0, reconnect_delay=0) for p in ports]
    for c in clients:
        if lean:
            for response_class in LEAN_RESPONSES:
                c.register(response_class)
        await c.connect()

    def job(client: AsyncModbusTcpClient, unit: int) -> Job:
        async def once() -> tuple[int, int]:
            for start, count in spans:
                response = await client.read_holding_registers(start, count=count, device_id=unit)
                if response.isError():
                    raise SystemExit(f"raw read failed: {response}")
            return len(tags), len(spans)
        return once

    jobs = [job(clients[i // UNITS_PER_SERVER], i % UNITS_PER_SERVER + 1) for i in range(devices)]
    for j in jobs:
        await j()
    return jobs, clients


async def measure(mode: str, jobs: Sequence[Job], seconds: float, interval: float) -> Result:
    cpu, wall = time.process_time(), time.perf_counter()
    n_tags, n_requests = await poll(seconds, interval, jobs)
    return Result(mode, n_tags, n_requests, time.process_time() - cpu, time.perf_counter() - wall)


async def all_modes(ports: Sequence[int], devices: int, seconds: float, interval: float,
                    rounds: int) -> list[list[Result]]:
    """The three modes, interleaved round by round so background load hits them alike."""
    raw, clients = await raw_jobs(ports, devices)
    lean, lean_clients = await raw_jobs(ports, devices, lean=True)
    clients += lean_clients
    planned, planned_drivers = await driver_jobs(ports, devices, {})
    single, single_drivers = await driver_jobs(ports, devices, {"one_request_per_tag": True})
    modes = [(RAW, raw), (PLANNED, planned), (SINGLE, single), (LEAN, lean)]
    per_round: list[list[Result]] = []
    try:
        for k in range(rounds):
            results: dict[str, Result] = {}
            for name, jobs in modes[k % 4:] + modes[: k % 4]:  # rotate the order every round
                await asyncio.sleep(0.2)  # let the server settle after the previous mode
                results[name] = await measure(name, jobs, seconds / rounds, interval)
            per_round.append([results[RAW], results[PLANNED], results[SINGLE], results[LEAN]])
    finally:
        for c in clients:
            c.close()
        for d in planned_drivers + single_drivers:
            await d.close()
    return per_round


RAW, PLANNED, SINGLE = "raw pymodbus (same spans)", "planner (ModbusDriver)", "one request per tag"
LEAN = "raw pymodbus + lean responses"


def decode_only(repeat: int) -> float:
    """Tags per CPU-second of the driver's own hot path with the I/O taken out: the same `_run`
    code (block decode, scaling, samples) fed from a link stand-in that returns ready blocks."""
    drv = ModbusDriver(specs([1], 1, {})[0])
    tags = list(drv.device.tags)
    plan = drv._plan_for(tags)
    blocks = {job.span.start: bytes(2 * job.span.count) for job in plan.jobs}

    class ReadyBlocks:
        async def read_registers(self, unit: int, table: Any, start: int, count: int, within: float,
                                 counters: Any) -> bytes:
            return blocks[start]

    link: Any = ReadyBlocks()

    async def run() -> float:
        cpu = time.process_time()
        for _ in range(repeat):
            for job in plan.jobs:
                await drv._run(link, job)
        return repeat * len(tags) / (time.process_time() - cpu)

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (4 s per mode, 40 devices)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per mode (default 12, quick 4)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 6, quick 4)")
    ap.add_argument("--devices", type=int, default=None, help="devices of 100 tags (default 100, quick 40)")
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 12.0)
    rounds = args.rounds or (4 if args.quick else 6)
    devices = args.devices or (40 if args.quick else 100)
    n_servers = -(-devices // UNITS_PER_SERVER)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(n_servers, child), daemon=True)
    proc.start()
    try:
        if not parent.poll(30):
            raise SystemExit("server process did not start")
        ports = parent.recv()
        per_round = asyncio.run(all_modes(ports, devices, seconds, args.interval, rounds))
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()

    def total(i: int) -> Result:
        rs = [r[i] for r in per_round]
        return Result(rs[0].mode, sum(r.tags for r in rs), sum(r.requests for r in rs), sum(r.cpu for r in rs),
                      sum(r.wall for r in rs))

    raw, planned, single, lean = total(0), total(1), total(2), total(3)
    vs_raw = [r[1].cpu_per_10k / r[0].cpu_per_10k for r in per_round]
    vs_single = [r[2].cpu_per_10k / r[1].cpu_per_10k for r in per_round]
    vs_lean = [r[1].cpu_per_10k / r[3].cpu_per_10k for r in per_round]
    tags = devices * 100
    print(f"Modbus bench: {devices} devices x 100 tags ({tags} tags), interval {args.interval:g} s, "
          f"{seconds:g} s per mode in {rounds} interleaved rounds; {n_servers} pymodbus servers x "
          f"{UNITS_PER_SERVER} units in another process")
    print(f"{'mode':28} {'tags/s':>10} {'requests/s':>11} {'CPU s/10k tags':>15} {'CPU vs raw':>11}")
    for r in (raw, planned, single, lean):
        print(f"{r.mode:28} {r.tags_per_s:10.0f} {r.requests_per_s:11.0f} {r.cpu_per_10k:15.5f} "
              f"{r.cpu_per_10k / raw.cpu_per_10k:10.2f}x")
    print("ratios of CPU per 10k tags, median of the rounds (all rounds):")
    print(f"  planner / raw pymodbus, same registers:       {median(vs_raw):5.2f}x  ({_spread(vs_raw)})  "
          f"target < 1.5x")
    print(f"  one-request-per-tag / planner:                {median(vs_single):5.1f}x  ({_spread(vs_single, 1)})  "
          f"target >= 10x")
    print(f"  planner / raw pymodbus with the lean classes: {median(vs_lean):5.2f}x  ({_spread(vs_lean)})  "
          f"the driver's own cost: plans, block decoding, scaling, samples")
    print(f"requests per 100 tags: planner {planned.requests / max(planned.tags, 1) * 100:.1f}, "
          f"one-per-tag {single.requests / max(single.tags, 1) * 100:.1f}")
    print(f"planner hot path without I/O (block decode + samples): {decode_only(200 if args.quick else 1000):,.0f} "
          f"tags per CPU-second")


def _spread(values: Sequence[float], digits: int = 2) -> str:
    return " ".join(f"{v:.{digits}f}" for v in values)


if __name__ == "__main__":
    main()
