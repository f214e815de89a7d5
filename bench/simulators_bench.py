"""Simulator cost: can the simulated plant keep up with the gateway benchmarks it serves?

Three figures, each beside a baseline measured in the same run:

  serving   100-register holding reads against the power-meter simulator (per-request hook:
            image copy, fault and cap checks) vs a bare pymodbus server with the same registers
  physics   the default plant (11 devices, 3 protocols) stepped by hand: simulated seconds per
            wall second, against real time (1x)
  idle      CPU used by the running plant at speed 1 with no client, against the same servers
            with the clock stopped (speed 0): the cost of the clock alone

Run: .venv/bin/python bench/simulators_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from devices.simulators import start_plant, start_simulator

COUNT = 100


async def reads_per_second(port: int, seconds: float) -> float:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    await client.connect()
    try:
        n = 0
        end = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < end:
            r = await client.read_holding_registers(0, count=COUNT)
            assert not r.isError()
            n += 1
        return n / (time.perf_counter() - start)
    finally:
        client.close()


async def bench_serving(seconds: float, rounds: int) -> None:
    sim = await start_simulator("power_meter", speed=0, seed=1)
    bare = ModbusTcpServer(SimDevice(0, simdata=([SimData(0, count=16, values=False, datatype=DataType.BITS)],
                                                 [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                                                 [SimData(0, count=202, values=0, datatype=DataType.REGISTERS)],
                                                 [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)])),
                           address=("127.0.0.1", 0))
    await bare.serve_forever(background=True)
    bare_port = bare.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr,attr-defined]
    best_sim = best_bare = 0.0
    try:
        for _ in range(rounds):  # take turns so both see the same machine load
            best_bare = max(best_bare, await reads_per_second(bare_port, seconds))
            best_sim = max(best_sim, await reads_per_second(sim.port, seconds))
    finally:
        await sim.stop()
        await bare.shutdown()
    print(f"serving: {COUNT}-register reads, one connection, best of {rounds} x {seconds:g} s")
    print("| server | reads/s | vs bare pymodbus |")
    print("|---|---|---|")
    print(f"| simulator (power_meter) | {best_sim:,.0f} | {best_sim / best_bare:.2f}x |")
    print(f"| bare pymodbus | {best_bare:,.0f} | 1x |")


async def bench_physics(sim_seconds: float) -> None:
    plant = await start_plant(speed=0, seed=1)
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await plant.step(sim_seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await plant.stop()
    print(f"\nphysics: default plant ({len(plant.sims)} devices) stepped {sim_seconds:g} simulated s at 1 s ticks")
    print("| run | wall s | CPU s | simulated s per wall s |")
    print("|---|---|---|---|")
    print(f"| plant.step | {wall:.2f} | {cpu:.2f} | {sim_seconds / wall:,.0f}x real time |")
    print("| real time | - | - | 1x |")


async def idle_cpu(speed: float, seconds: float) -> float:
    plant = await start_plant(speed=speed, seed=1)
    try:
        await asyncio.sleep(1.0)  # let start-up settle
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        return (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    finally:
        await plant.stop()


async def bench_idle(seconds: float) -> None:
    stopped = await idle_cpu(0.0, seconds)
    running = await idle_cpu(1.0, seconds)
    print(f"\nidle: default plant, no client, {seconds:g} s each")
    print("| clock | CPU (share of one core) | vs clock stopped |")
    print("|---|---|---|")
    print(f"| speed 1 | {running:.1%} | {running / max(stopped, 1e-6):.2f}x |")
    print(f"| speed 0 (servers only) | {stopped:.1%} | 1x |")


async def main(quick: bool) -> None:
    await bench_serving(1.0 if quick else 3.0, 2 if quick else 3)
    await bench_physics(900 if quick else 6 * 3600)
    await bench_idle(3.0 if quick else 10.0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short smoke run")
    asyncio.run(main(ap.parse_args().quick))
