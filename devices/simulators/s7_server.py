"""Serve an `S7Image` with python-snap7's pure-Python S7 server, behaving like a real CPU.

The stock server treats a bit access as a byte access: writing `DB2.DBX0.1` would overwrite the
whole byte and reading a bit returns its byte. A PLC writes and returns the single bit, and a
driver that relies on that must be tested against it, so `_Plc` corrects both. It also drops its
clients' sockets on stop (a powered-off PLC) and can fall silent (`no_answer`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from snap7.datatypes import S7Area, S7WordLen
from snap7.error import S7ConnectionError
from snap7.s7protocol import S7Function, S7PDUType
from snap7.server import EVC_DATA_WRITE, Server
from snap7.type import SrvArea

from devices.model import TagSpec
from devices.simulators.s7_image import S7Image

__all__ = ["S7SimServer"]

_SRV_AREA = {"DB": SrvArea.DB, "M": SrvArea.MK, "I": SrvArea.PE, "Q": SrvArea.PA}
_ITEM_BYTES = {S7WordLen.BIT: 1, S7WordLen.BYTE: 1, S7WordLen.CHAR: 1, S7WordLen.WORD: 2, S7WordLen.INT: 2,
               S7WordLen.DWORD: 4, S7WordLen.DINT: 4, S7WordLen.REAL: 4, S7WordLen.COUNTER: 2, S7WordLen.TIMER: 2}

WriteCallback = Callable[[str, Any], None]


class _Plc(Server):  # type: ignore[misc]
    """snap7's server with bit-exact access, droppable connections and a silent mode."""

    def __init__(self) -> None:
        super().__init__(log=False)
        self.silent = False
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------------
    def _handle_client(self, client_socket: socket.socket, address: tuple[str, int]) -> None:
        with self._sockets_lock:
            self._sockets.add(client_socket)
        try:
            super()._handle_client(client_socket, address)
        finally:
            with self._sockets_lock:
                self._sockets.discard(client_socket)

    def drop_clients(self) -> None:
        with self._sockets_lock:
            sockets = list(self._sockets)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _process_request(self, request_data: bytes, client_address: tuple[str, int]) -> bytes | None:
        if self.silent:
            return None
        result: bytes | None = super()._process_request(request_data, client_address)
        return result

    # -- bit-exact addressing ------------------------------------------------------------------
    def _parse_address_specification(self, addr_spec: bytes) -> dict[str, Any]:
        parsed: dict[str, Any] = super()._parse_address_specification(addr_spec)
        if parsed and parsed.get("word_len") == S7WordLen.BIT and len(addr_spec) >= 12:
            parsed["bit"] = struct.unpack(">I", b"\x00" + addr_spec[9:12])[0] % 8
        return parsed

    def _item(self, spec: Mapping[str, Any]) -> tuple[int, int, bytes]:
        """(return code, transport size, data) of one read item."""
        word_len = spec.get("word_len", S7WordLen.BYTE)
        area, db, start = spec.get("area", S7Area.DB), spec.get("db_number", 0), spec.get("start", 0)
        size = 1 if word_len == S7WordLen.BIT else spec.get("count", 1) * _ITEM_BYTES.get(word_len, 1)
        code, data = self._read_from_memory_area(area, db, start, size)
        if code != 0xFF:
            return code, 0x00, b""
        if word_len == S7WordLen.BIT:
            return code, 0x03, bytes([data[0] >> spec.get("bit", 0) & 1])
        return code, 0x04, bytes(data)

    def _handle_read_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        params = request.get("parameters", {})
        specs = params.get("address_specs") or ([params["address_spec"]] if params.get("address_spec") else [])
        if not specs:
            result: bytes = self._build_error_response(request, 0x8001)
            return result
        body = bytearray()
        for i, spec in enumerate(specs):
            code, transport, data = self._item(spec)
            length = len(data) * 8 if transport == 0x04 else len(data)
            body += struct.pack(">BBH", code, transport, length) + data
            if i < len(specs) - 1 and len(data) % 2:
                body.append(0)
        header = struct.pack(">BBHHHHBB", 0x32, S7PDUType.ACK_DATA, 0, request["sequence"], 2, len(body), 0, 0)
        return header + struct.pack(">BB", S7Function.READ_AREA, len(specs)) + bytes(body)

    def _handle_write_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        spec = request.get("parameters", {}).get("address_spec") or {}
        data = (request.get("data") or {}).get("data", b"")
        if spec.get("word_len") == S7WordLen.BIT and "bit" in spec and data:
            key = (spec.get("area", S7Area.DB), spec.get("db_number", 0))
            mem = self.memory_areas.get(key)
            start = spec.get("start", 0)
            if mem is not None and start < len(mem):
                mask = 1 << spec["bit"]
                byte = (mem[start] | mask) if data[0] & 1 else (mem[start] & ~mask)
                request = {**request, "data": {**request["data"], "data": bytes([byte])}}
        result: bytes = super()._handle_write_area(request, client_address)
        return result


class S7SimServer:
    protocol = "s7"
    faults_supported = ("stuck", "out_of_range", "offline", "no_answer")

    def __init__(self, tags: Sequence[TagSpec], host: str = "127.0.0.1", port: int = 0,
                 options: Mapping[str, Any] | None = None, on_write: WriteCallback | None = None) -> None:
        self.image = S7Image(tags)
        self.tags = {t.name: t for t in tags}
        self.host = host
        self.port = port
        self.on_write = on_write
        self.notify: Callable[[], None] | None = None
        """Called (in the event loop) after a client wrote PLC memory; the simulator collects it."""
        self.failed: set[str] = set()
        self.out_of_range: set[str] = set()  # shown in the value itself: Modbus and S7 have no status
        self._loop: asyncio.AbstractEventLoop | None = None
        self._silent = False
        self._plc: _Plc | None = None
        self._published: dict[str, Any] = {}
        logging.getLogger("snap7").setLevel(logging.CRITICAL)

    @property
    def connection(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "rack": 0, "slot": 1}

    @property
    def endpoint(self) -> str:
        return f"s7://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._plc is not None

    @property
    def silent(self) -> bool:
        return self._silent

    @silent.setter
    def silent(self, value: bool) -> None:
        self._silent = value
        if self._plc is not None:
            self._plc.silent = value

    def _start_sync(self) -> None:
        plc = _Plc()
        for (area, db), mem in self.image.areas.items():
            plc.register_area(_SRV_AREA[area], db, mem)
        plc.silent = self._silent
        plc.set_events_callback(self._event)
        try:
            plc.start_to(self.host, self.port)
        except S7ConnectionError as exc:  # a failed bind, reported as the network error it is
            raise OSError(f"cannot listen on {self.host}:{self.port} ({exc})") from None
        if plc.server_socket is not None:
            self.port = plc.server_socket.getsockname()[1]
        self._plc = plc

    def _event(self, event: Any) -> None:
        """Runs in a client thread of the PLC: hand data writes over to the event loop."""
        if event.EvtCode == EVC_DATA_WRITE and self._loop is not None and self.notify is not None:
            try:
                self._loop.call_soon_threadsafe(self.notify)
            except RuntimeError:  # loop closed while the PLC was stopping
                pass

    async def start(self, initial: Mapping[str, Any] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._start_sync)

    async def set_offline(self, offline: bool) -> None:
        """Power the PLC off (connections dropped, port closed) or on again on the same port."""
        if offline:
            await self.stop()
        elif self._plc is None:
            await self.start()

    async def stop(self) -> None:
        plc, self._plc = self._plc, None
        if plc is not None:
            plc.drop_clients()
            await asyncio.to_thread(plc.stop)

    # -- values ----------------------------------------------------------------------------
    def _locked(self, key: tuple[str, int]) -> tuple[SrvArea, int] | None:
        plc = self._plc
        if plc is None:
            return None
        area = (_SRV_AREA[key[0]], key[1])
        plc.lock_area(*area)
        return area

    def _unlock(self, area: tuple[SrvArea, int] | None) -> None:
        if area is not None and self._plc is not None:
            self._plc.unlock_area(*area)

    async def publish(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Write engineering values into PLC memory; return what clients will decode.

        A writable tag a client changed since the last publish is left alone: `collect_writes`
        hands it to the model on the next tick instead of overwriting it.
        """
        out: dict[str, Any] = {}
        for name, value in values.items():
            slot = self.image.slots.get(name)
            if slot is None:
                continue
            area = self._locked(slot.key)
            try:
                current = self.image.get(name)
                if self.tags[name].writable and name in self._published and current != self._published[name]:
                    out[name] = current
                    continue
                self.image.put(name, self.image.encode(name, value))
                out[name] = self._published[name] = self.image.get(name)
            finally:
                self._unlock(area)
        return out

    def collect_writes(self) -> None:
        for name, tag in self.tags.items():
            if not tag.writable or name not in self._published:
                continue
            current = self.image.get(name)
            if current != self._published[name]:
                self._published[name] = current
                if self.on_write is not None:
                    self.on_write(name, current)
