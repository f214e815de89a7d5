"""Load generator of the end-to-end benchmark: N Modbus TCP devices whose registers change all the time.

Run by `bench/e2e_modbus.py` in its own process pinned to the load core. Every device has the
same register map (`Workload.layout`): a `stamp` uint32 at HR0 holding the current tick index,
then M-1 tags cycling through float32, int16, uint16 (scaled), int32 and float32. All values
follow the tick (`tick` seconds, 0.1 by default), so a gateway polling every second always reads
a changed value for every tag and report-by-change publishes all of them; and whoever receives
a `stamp` of k knows the values changed at `t0 + k * tick` (the change time behind the latency
figure) without any log.

Two servers can serve the map: `lean` (default), a minimal asyncio Modbus TCP server answering
FC3/FC4 from the current block (cheap per request, so a one-request-per-tag peer is limited by
itself and not by the simulator), and `pymodbus` (pymodbus' own ModbusTcpServer, with a request
hook copying the current block in).

Prints one JSON line `{"ports": [...], "t0": ..., "tick": ...}` once listening, then a line
`{"cpu": seconds, "requests": n}` every second; stops on SIGTERM/SIGINT or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

STAMP_TAG = "stamp"
KINDS = ("float32", "int16", "uint16", "int32", "float32")
"""The repeating tag pattern after the stamp: 5 tags in 8 registers."""
_CODE = {"float32": "f", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I"}
_REGS = {"float32": 2, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2}
WRAP = 30_000
"""Values follow `k % WRAP`, so they stay inside their type whatever the run length."""


@dataclass(frozen=True, slots=True)
class TagDef:
    name: str
    kind: str
    address: int
    scale: float | None = None

    @property
    def registers(self) -> int:
        return _REGS[self.kind]


@dataclass(frozen=True, slots=True)
class Workload:
    """The register map every simulated device shares, and the values it holds at tick k."""

    tags: int

    @property
    def layout(self) -> list[TagDef]:
        out = [TagDef(STAMP_TAG, "uint32", 0)]
        address = 2
        for i in range(1, self.tags):
            kind = KINDS[(i - 1) % len(KINDS)]
            out.append(TagDef(f"t{i}", kind, address, 0.1 if kind == "uint16" else None))
            address += _REGS[kind]
        return out

    @property
    def registers(self) -> int:
        last = self.layout[-1]
        return last.address + last.registers


class Block:
    """One device's register image, regenerated lazily when a request finds a newer tick."""

    def __init__(self, workload: Workload, index: int, t0: float, tick: float) -> None:
        layout = workload.layout
        self.t0, self.tick = t0, tick
        self.struct = struct.Struct(">" + "".join(_CODE[t.kind] for t in layout))
        # value at tick k = base + k * step (the stamp is k itself)
        self.coeffs: list[tuple[float, float]] = []
        for i, t in enumerate(layout[1:], start=1):
            if t.kind == "float32":
                self.coeffs.append((float((i + index) % 1000), 0.25))
            elif t.kind == "int16":
                self.coeffs.append((-((i * 7 + index) % 2000), 1))
            elif t.kind == "uint16":
                self.coeffs.append(((i * 13 + index) % 30000, 1))
            else:
                self.coeffs.append(((i + index) * 1000, 1))
        self.k = -1
        self.data = b""
        self.registers: list[int] = []
        self.refresh()

    def refresh(self) -> bytes:
        k = int((time.time() - self.t0) / self.tick)
        if k != self.k:
            self.k = k
            w = k % WRAP
            values: list[Any] = [k & 0xFFFFFFFF]
            values += [b + w * s if isinstance(s, float) else int(b) + w for b, s in self.coeffs]
            self.data = self.struct.pack(*values)
            self.registers = []
        return self.data

    def register_list(self) -> list[int]:
        self.refresh()
        if not self.registers:
            self.registers = list(struct.unpack(f">{len(self.data) // 2}H", self.data))
        return self.registers


class Counter:
    requests = 0


class LeanModbus(asyncio.Protocol):
    """Modbus TCP, read holding/input registers only; anything else gets ILLEGAL FUNCTION."""

    def __init__(self, block: Block, counter: type[Counter]) -> None:
        self.block = block
        self.counter = counter
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        out = []
        while len(buf) >= 8:
            tid, _, length, unit, fc = struct.unpack_from(">HHHBB", buf)
            end = 6 + length
            if len(buf) < end:
                break
            self.counter.requests += 1
            if fc in (3, 4) and length == 6:
                start, count = struct.unpack_from(">HH", buf, 8)
                data_ = self.block.refresh()
                if 1 <= count <= 125 and 2 * (start + count) <= len(data_):
                    payload = data_[2 * start: 2 * (start + count)]
                    out.append(struct.pack(">HHHBBB", tid, 0, 3 + 2 * count, unit, fc, 2 * count) + payload)
                else:
                    out.append(struct.pack(">HHHBBB", tid, 0, 3, unit, fc | 0x80, 2 if count <= 125 else 3))
            else:
                out.append(struct.pack(">HHHBBB", tid, 0, 3, unit, fc | 0x80, 1))
            buf = buf[end:]
        self.buf = buf
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve_lean(blocks: list[Block]) -> list[Any]:
    loop = asyncio.get_running_loop()
    servers = []
    for block in blocks:
        servers.append(await loop.create_server(lambda b=block: LeanModbus(b, Counter), "127.0.0.1", 0))  # type: ignore[misc]
    return servers


async def serve_pymodbus(blocks: list[Block]) -> list[Any]:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    servers = []
    for block in blocks:
        n = len(block.register_list())

        async def action(function_code: int, start_address: int, address: int, count: int,
                         registers: list[int], set_values: Any, block: Block = block) -> None:
            Counter.requests += 1
            regs = block.register_list()
            registers[address - start_address: address - start_address + count] = regs[address: address + count]

        device = SimDevice(1, simdata=[SimData(0, count=n, values=0, datatype=DataType.REGISTERS)], action=action)
        server = ModbusTcpServer(device, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        servers.append(server)
    return servers


def _port(server: Any) -> int:
    sockets = getattr(server, "sockets", None) or getattr(getattr(server, "transport", None), "sockets", None) or ()
    if not sockets:
        raise RuntimeError("a simulated device is not listening")
    return int(sockets[0].getsockname()[1])


async def main_async(args: argparse.Namespace) -> None:
    workload = Workload(args.tags)
    t0 = time.time()
    blocks = [Block(workload, i, t0, args.tick) for i in range(args.devices)]
    servers = await (serve_pymodbus(blocks) if args.server == "pymodbus" else serve_lean(blocks))
    print(json.dumps({"ports": [_port(s) for s in servers], "t0": t0, "tick": args.tick,
                      "registers": workload.registers}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    fd = sys.stdin.fileno()
    loop.add_reader(fd, lambda: None if os.read(fd, 1) else stop.set())  # the parent went away: stop too
    deadline = loop.time() + args.max_seconds
    while not stop.is_set() and loop.time() < deadline:
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass
        ru = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"cpu": ru.ru_utime + ru.ru_stime, "requests": Counter.requests}), flush=True)
    for s in servers:
        if args.server == "pymodbus":
            await s.shutdown()
        else:
            s.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, required=True)
    ap.add_argument("--tags", type=int, required=True, help="tags per device, the stamp included")
    ap.add_argument("--tick", type=float, default=0.1, help="seconds between value changes")
    ap.add_argument("--server", choices=("lean", "pymodbus"), default="lean")
    ap.add_argument("--max-seconds", type=float, default=1800.0, help="stop by itself after this long")
    asyncio.run(main_async(ap.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
