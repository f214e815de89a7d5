"""A real snap7 server made to behave like a CPU where it falls short, and a wire-level proxy.

`TestPLC` is python-snap7's in-process `Server` with three additions a real CPU has:
  * a bit write (transport size BIT) sets one bit; the stock server writes the whole byte,
  * SZL 0x0424 reports the operating mode (RUN/STOP) set with `set_cpu_status`,
  * stopping it drops the open TCP connections, as a PLC that loses power does.
It records every read/write job it serves so tests can count what reached the "PLC".

`S7Proxy` sits between driver and server, parses TPKT/COTP/S7 frames, counts read jobs and their
PDU sizes on the wire, records the TSAPs of the ISO connect, and can answer read or write jobs
with the header error an S7-1200/1500 gives when PUT/GET access is not permitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

import snap7
from snap7.datatypes import S7WordLen
from snap7.server import CPUState
from snap7.type import SrvArea


class TestPLC(snap7.Server):
    __test__ = False  # not a pytest test class

    def __init__(self, answer_cpu_state: bool = True) -> None:
        super().__init__(log=False)
        self.answer_cpu_state = answer_cpu_state
        self.jobs: list[tuple[Any, ...]] = []
        self._sockets: set[socket.socket] = set()
        self._sock_lock = threading.Lock()

    # -- lifecycle on 127.0.0.1 -----------------------------------------------------------
    def start_local(self, port: int = 0) -> int:
        self.host = "127.0.0.1"
        self.start(port)
        assert self.server_socket is not None
        self.port = int(self.server_socket.getsockname()[1])
        return self.port

    def stop(self) -> int:
        with self._sock_lock:
            for s in list(self._sockets):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        return super().stop()

    def _handle_client(self, client_socket: socket.socket, address: tuple[str, int]) -> None:
        with self._sock_lock:
            self._sockets.add(client_socket)
        try:
            super()._handle_client(client_socket, address)
        finally:
            with self._sock_lock:
                self._sockets.discard(client_socket)

    # -- what a CPU does and the stock server does not ------------------------------------
    def _parse_address_specification(self, addr_spec: bytes) -> dict[str, Any]:
        parsed = super()._parse_address_specification(addr_spec)
        if parsed and parsed.get("word_len") == S7WordLen.BIT:
            parsed["bit"] = addr_spec[11] & 0x07
        return parsed

    def _handle_read_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        params = request.get("parameters") or {}
        specs = params.get("address_specs") or [params.get("address_spec") or {}]
        self.jobs.append(("read", len(specs)))
        return super()._handle_read_area(request, client_address)

    def _handle_write_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        spec = (request.get("parameters") or {}).get("address_spec") or {}
        word_len = spec.get("word_len")
        self.jobs.append(("write", word_len, spec.get("start"), spec.get("bit")))
        data = request.get("data") or {}
        key = (spec.get("area"), spec.get("db_number"))
        if word_len == S7WordLen.BIT and key in self.memory_areas and data.get("data"):
            memory = self.memory_areas[key]
            start, bit, on = spec["start"], spec["bit"], bool(data["data"][0] & 1)
            if start >= len(memory):
                return self._build_error_response(request, 0x8404)
            with self.area_locks[key]:
                memory[start] = (memory[start] | (1 << bit)) if on else (memory[start] & ~(1 << bit) & 0xFF)
            header = struct.pack(">BBHHHHBB", 0x32, 0x03, 0, request["sequence"], 2, 1, 0, 0)
            return header + bytes([0x05, 0x01, 0xFF])
        return super()._handle_write_area(request, client_address)

    def _get_szl_data(self, szl_id: int, szl_index: int) -> bytes | None:
        if szl_id == 0x0424 and self.answer_cpu_state:
            mode = {CPUState.RUN: 0x08, CPUState.STOP: 0x04}.get(self.cpu_state, 0x00)
            record = struct.pack(">HBB", 0x4433, 0x00, mode) + bytes(16)
            return struct.pack(">HH", len(record), 1) + record
        return super()._get_szl_data(szl_id, szl_index)

    # -- helpers for tests -----------------------------------------------------------------
    def area(self, area: SrvArea, index: int, size: int) -> bytearray:
        memory = bytearray(size)
        self.register_area(area, index, memory)
        return memory

    def reads(self) -> int:
        return sum(1 for j in self.jobs if j[0] == "read")


@dataclass
class Wire:
    """What the proxy saw."""

    read_jobs: int = 0
    read_items: list[int] = field(default_factory=list)
    request_sizes: list[int] = field(default_factory=list)
    reply_sizes: list[int] = field(default_factory=list)
    write_jobs: int = 0
    tsaps: list[tuple[int, int]] = field(default_factory=list)  # (calling, called) per ISO connect
    refused: int = 0


class S7Proxy:
    """TCP proxy on 127.0.0.1 that understands S7 frames; `refuse` = {"read", "write"} answers those
    jobs with header error 0x8104 instead of forwarding them, `swallow` drops them unanswered."""

    def __init__(self, target_port: int, refuse: frozenset[str] = frozenset(),
                 swallow: frozenset[str] = frozenset()) -> None:
        self.target_port = target_port
        self.refuse = refuse
        self.swallow = swallow  # jobs dropped without an answer (a PLC that hangs)
        self.wire = Wire()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        down = asyncio.create_task(self._pump(reader, up_writer, writer, upstream=True))
        up = asyncio.create_task(self._pump(up_reader, writer, None, upstream=False))
        self._tasks.update((down, up))
        await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        for t in (down, up):
            t.cancel()
        writer.close()
        up_writer.close()
        self._tasks.difference_update((down, up))

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    back: asyncio.StreamWriter | None, upstream: bool) -> None:
        try:
            while True:
                head = await src.readexactly(4)
                body = await src.readexactly(struct.unpack(">H", head[2:4])[0] - 4)
                if upstream and back is not None and self._inspect_request(body, back):
                    continue
                if not upstream:
                    self._inspect_reply(body)
                dst.write(head + body)
                await dst.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return

    def _inspect_request(self, cotp: bytes, back: asyncio.StreamWriter) -> bool:
        """Record a client frame; True when it was answered here instead of forwarded."""
        if cotp[1] == 0xE0:  # connection request: collect TSAPs
            calling = called = -1
            pos = 7
            while pos + 2 <= len(cotp):
                code, length = cotp[pos], cotp[pos + 1]
                if code in (0xC1, 0xC2) and length == 2:
                    value = struct.unpack(">H", cotp[pos + 2: pos + 4])[0]
                    calling, called = (value, called) if code == 0xC1 else (calling, value)
                pos += 2 + length
            self.wire.tsaps.append((calling, called))
            return False
        pdu = cotp[3:]
        if cotp[1] != 0xF0 or len(pdu) < 12 or pdu[0] != 0x32 or pdu[1] != 0x01:
            return False
        function = pdu[10]
        kind = {0x04: "read", 0x05: "write"}.get(function)
        if kind == "read":
            self.wire.read_jobs += 1
            self.wire.read_items.append(pdu[11])
            self.wire.request_sizes.append(len(pdu))
        elif kind == "write":
            self.wire.write_jobs += 1
        if kind is not None and kind in self.swallow:
            return True
        if kind is not None and kind in self.refuse:
            self.wire.refused += 1
            seq = struct.unpack(">H", pdu[4:6])[0]
            reply = struct.pack(">BBHHHHBB", 0x32, 0x03, 0, seq, 2, 0, 0x81, 0x04) + bytes([function, 0])
            frame = bytes([2, 0xF0, 0x80]) + reply
            back.write(struct.pack(">BBH", 3, 0, len(frame) + 4) + frame)
            return True
        return False

    def _inspect_reply(self, cotp: bytes) -> None:
        pdu = cotp[3:]
        if cotp[1] == 0xF0 and len(pdu) >= 14 and pdu[0] == 0x32 and pdu[1] == 0x03 and pdu[12] == 0x04:
            self.wire.reply_sizes.append(len(pdu))


@dataclass
class Rig:
    """A started TestPLC with DB1 (600 B), DB2 (300 B), M (256 B), I (32 B) and Q (32 B)."""

    plc: TestPLC
    port: int
    db1: bytearray
    db2: bytearray
    m: bytearray
    i: bytearray
    q: bytearray


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_rig(answer_cpu_state: bool = True, port: int = 0) -> Rig:
    plc = TestPLC(answer_cpu_state)
    db1 = plc.area(SrvArea.DB, 1, 600)
    db2 = plc.area(SrvArea.DB, 2, 300)
    m = plc.area(SrvArea.MK, 0, 256)
    i = plc.area(SrvArea.PE, 0, 32)
    q = plc.area(SrvArea.PA, 0, 32)
    return Rig(plc, plc.start_local(port), db1, db2, m, i, q)


def s7_device(port: int, tags: Any, name: str = "plc", timeout: float = 1.0, **options: Any) -> Any:
    from devices.model import DeviceSpec

    conn = options.pop("connection", {})
    return DeviceSpec(name, "s7", {"host": "127.0.0.1", "port": port, **conn}, tuple(tags),
                      interval=0.05, heartbeat=None, timeout=timeout, options=options)


class RecordingOutlet:
    """The smallest northbound side: keeps every batch the gateway runtime submits."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[Any]]] = []

    async def start(self, write_handler: Any) -> None:
        return None

    async def submit(self, device: str, samples: Any) -> None:
        self.batches.append((device, list(samples)))

    def device_state(self, device: str, up: bool, since: float, error: str | None) -> None:
        return None

    def stats(self) -> dict[str, Any]:
        return {}

    async def stop(self) -> None:
        return None

    def samples(self, device: str) -> list[Any]:
        return [s for d, batch in self.batches if d == device for s in batch]
