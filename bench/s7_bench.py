"""S7 read throughput: the planned multi-variable reads vs one read request per tag, same run.

2,000 tags across three DBs (REAL, INT, DINT, WORD, BOOL bits, LREAL, short STRINGs, laid out like
a real DB with occasional spare bytes) are read from python-snap7's server, started in this process
on 127.0.0.1. Three ways, over the same connection stack:
  planned     the driver as configured by default (merge gaps <= 32 bytes, pack <= 20 items/PDU)
  packed      the driver with max_gap 0 (multi-variable packing only, no merging)
  per tag     one single-item read request per tag (what "one request per register" gateways do)
Figures are requests per cycle and tags/s, and each as a ratio to the per-tag baseline.

    .venv/bin/python bench/s7_bench.py [--quick] [--pdu 480]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import socket
import time
from dataclasses import dataclass

import snap7
from snap7.type import SrvArea

from devices.model import DeviceSpec, TagSpec
from drivers.s7 import S7Driver
from drivers.s7.client import S7Client
from drivers.s7.types import resolve

TAGS = 2000
DBS = (1, 2, 3)
ROUNDS = 5  # each figure is the best of this many rounds: the machine is shared, noise only adds time


def make_tags(seed: int = 7) -> tuple[list[TagSpec], dict[int, int]]:
    """Tags laid out DB by DB; returns the tags and the size each DB needs."""
    rng = random.Random(seed)
    tags: list[TagSpec] = []
    sizes: dict[int, int] = {}
    per_db = TAGS // len(DBS)
    for n_db, db in enumerate(DBS):
        pos, count = 0, per_db + (TAGS - per_db * len(DBS) if n_db == len(DBS) - 1 else 0)
        n = 0
        while n < count:
            kind = rng.choices(["real", "int", "dint", "word", "bits", "lreal", "string"],
                               [30, 20, 15, 10, 15, 5, 5])[0]
            if rng.random() < 0.1:
                pos += rng.choice([2, 4, 8, 40])  # spare bytes / a reserve area
            if kind == "bits":
                for bit in range(min(8, count - n)):
                    tags.append(TagSpec(f"db{db}_{n}", f"DB{db}.DBX{pos}.{bit}"))
                    n += 1
                pos += 2
                continue
            if kind == "string":
                tags.append(TagSpec(f"db{db}_{n}", f"DB{db}.DBB{pos}", "string", length=16))
                pos += 18
            elif kind == "lreal":
                tags.append(TagSpec(f"db{db}_{n}", f"DB{db}.DBB{pos}", "lreal"))
                pos += 8
            else:
                width = "W" if kind in ("int", "word") else "D"
                tags.append(TagSpec(f"db{db}_{n}", f"DB{db}.DB{width}{pos}", kind))
                pos += 2 if width == "W" else 4
            n += 1
        sizes[db] = pos + 16
    return tags, sizes


@dataclass
class Result:
    name: str
    requests_per_cycle: float
    seconds_per_cycle: float

    @property
    def tags_per_s(self) -> float:
        return TAGS / self.seconds_per_cycle


async def run_driver(port: int, tags: list[TagSpec], cycles: int, pdu: int, max_gap: int, name: str) -> Result:
    spec = DeviceSpec("bench", "s7", {"host": "127.0.0.1", "port": port}, tuple(tags), timeout=5.0,
                      options={"pdu_size": pdu, "max_gap": max_gap, "cpu_state_interval": "off"})
    d = S7Driver(spec)
    await d.connect()
    try:
        await d.read(tags)  # warm-up: plan is built and cached
        before = d.stats()["requests"]
        t0 = time.perf_counter()
        for _ in range(cycles):
            samples = await d.read(tags)
        elapsed = time.perf_counter() - t0
        assert all(s.quality == "good" for s in samples)
        return Result(name, (d.stats()["requests"] - before) / cycles, elapsed / cycles)
    finally:
        await d.close()


async def run_per_tag(port: int, tags: list[TagSpec], cycles: int, pdu: int) -> Result:
    points = [resolve(t) for t in tags]
    client = S7Client("127.0.0.1", port, 0x0100, 0x0101, pdu, 5.0)
    await client.open()
    try:
        before = client.requests
        t0 = time.perf_counter()
        for _ in range(cycles):
            for p in points:
                (item,) = await client.read_vars([(p.area_code, p.address.db, p.start, p.size)])
                p.decode(item.data, 0)
        elapsed = time.perf_counter() - t0
        return Result("per tag", (client.requests - before) / cycles, elapsed / cycles)
    finally:
        await client.close()


def start_server(sizes: dict[int, int]) -> tuple[snap7.Server, int]:
    server = snap7.Server(log=False)
    for db, size in sizes.items():
        server.register_area(SrvArea.DB, db, bytearray(size))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server.start_to("127.0.0.1", port)
    return server, port


async def main(quick: bool, pdu: int) -> None:
    logging.getLogger("snap7").setLevel(logging.CRITICAL)
    tags, sizes = make_tags()
    server, port = start_server(sizes)
    cycles, base_cycles, rounds = (5, 1, 1) if quick else (40, 3, ROUNDS)
    best: dict[str, Result] = {}
    try:
        for _ in range(rounds):  # the modes take turns, so a busy moment hits each of them alike
            for r in (await run_driver(port, tags, cycles, pdu, 32, "planned"),
                      await run_driver(port, tags, cycles, pdu, 0, "packed"),
                      await run_per_tag(port, tags, base_cycles, pdu)):
                if r.name not in best or r.seconds_per_cycle < best[r.name].seconds_per_cycle:
                    best[r.name] = r
    finally:
        server.stop()
    planned, packed, base = best["planned"], best["packed"], best["per tag"]
    print(f"S7 read, {TAGS} tags in DB{', DB'.join(map(str, DBS))} ({', '.join(f'{s} B' for s in sizes.values())}), "
          f"PDU {pdu}, python-snap7 server in-process; best of {rounds} x {cycles} cycles ({base_cycles} for per tag)")
    print(f"{'mode':<10}{'requests/cycle':>16}{'ms/cycle':>11}{'tags/s':>11}{'requests vs per tag':>22}"
          f"{'tags/s vs per tag':>20}")
    for r in (planned, packed, base):
        print(f"{r.name:<10}{r.requests_per_cycle:>16.0f}{r.seconds_per_cycle * 1000:>11.1f}{r.tags_per_s:>11.0f}"
              f"{r.requests_per_cycle / base.requests_per_cycle:>22.4f}{r.tags_per_s / base.tags_per_s:>19.1f}x")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few cycles, for a smoke run")
    ap.add_argument("--pdu", type=int, default=480, help="PDU size to ask for (the server grants at most 480)")
    args = ap.parse_args()
    asyncio.run(main(args.quick, args.pdu))
