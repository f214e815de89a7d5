"""Serve a `ModbusImage` over Modbus TCP with pymodbus, with the misbehaviour of real devices.

Every request passes through one hook that copies the current image into pymodbus's memory,
takes client writes into the model, refuses writes to read-only points, enforces the device's
request-size cap (`max_registers_per_request` of the profile) and plays the faults: an exception
for a failed point, silence for `no_answer`, a closed port for `offline`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from devices.model import TagSpec
from devices.simulators.modbus_image import ModbusImage

__all__ = ["ModbusSimServer"]

_TABLE_OF_FC = {1: "CO", 5: "CO", 15: "CO", 2: "DI", 3: "HR", 6: "HR", 16: "HR", 22: "HR", 23: "HR", 4: "IR"}
_BIT_TABLES = ("CO", "DI")

WriteCallback = Callable[[str, Any], None]


class ModbusSimServer:
    protocol = "modbus"
    faults_supported = ("stuck", "out_of_range", "failed", "offline", "no_answer")

    def __init__(self, tags: Sequence[TagSpec], host: str = "127.0.0.1", port: int = 0,
                 options: Mapping[str, Any] | None = None, on_write: WriteCallback | None = None) -> None:
        self.image = ModbusImage(tags)
        self.tags = {t.name: t for t in tags}
        self.host = host
        self.port = port
        self.max_registers = int((options or {}).get("max_registers_per_request", 125))
        self.on_write = on_write
        self.notify: Callable[[], None] | None = None
        """Called after a client write was handed to `on_write` (the simulator republishes)."""
        self.failed: set[str] = set()
        self.out_of_range: set[str] = set()  # shown in the value itself: Modbus and S7 have no status
        self.silent = False
        self.requests = 0
        self._server: ModbusTcpServer | None = None
        self._device = self._sim_device()
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    def _sim_device(self) -> SimDevice:
        def block(table: str) -> list[SimData]:
            n = max(self.image.size(table), 1)
            if table in _BIT_TABLES:
                return [SimData(0, count=n, values=False, datatype=DataType.BITS)]
            return [SimData(0, count=n, values=0, datatype=DataType.REGISTERS)]

        # (coils, discrete inputs, holding registers, input registers), bit-addressed coils
        return SimDevice(0, simdata=(block("CO"), block("DI"), block("HR"), block("IR")),
                         action=self._action)

    @property
    def connection(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "unit": 1}

    @property
    def endpoint(self) -> str:
        return f"modbus-tcp://{self.host}:{self.port}"

    async def start(self, initial: Mapping[str, Any] | None = None) -> None:
        server = ModbusTcpServer(self._device, address=(self.host, self.port), ignore_missing_devices=True)
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:  # pymodbus reports a failed bind this way
            raise OSError(f"cannot listen on {self.host}:{self.port} ({exc})") from None
        self._server = server
        sockets = getattr(server.transport, "sockets", None) or ()
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    @property
    def running(self) -> bool:
        return self._server is not None

    async def set_offline(self, offline: bool) -> None:
        """Close the port and drop every connection, or listen again on the same port."""
        if offline:
            await self.stop()
        elif self._server is None:
            await self.start()

    # -- values ----------------------------------------------------------------------------
    async def publish(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Put engineering values into the image; return what clients will decode."""
        return {name: self.image.set(name, value) for name, value in values.items() if name in self.image.slots}

    def collect_writes(self) -> None:
        """Writes arrive through the request hook as they happen; nothing to collect."""

    # -- the request hook ------------------------------------------------------------------
    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        self.requests += 1
        if self.silent:
            raise NoSuchIdException("simulated device does not answer")  # pymodbus then stays silent
        table = _TABLE_OF_FC.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if table in _BIT_TABLES:
            n = len(set_values) if set_values else None
            return self._bits(table, start_address, address, n, registers, set_values)
        return self._registers(table, start_address, address, count, registers, set_values)

    def _check(self, table: str, start: int, count: int, write: bool) -> ExcCodes | None:
        touched = self.image.tags_in(table, start, count)
        if self.failed.intersection(touched):
            return ExcCodes.DEVICE_FAILURE
        if write and any(not self.tags[name].writable for name in touched):
            return ExcCodes.ILLEGAL_ADDRESS
        return None

    def _registers(self, table: str, base: int, address: int, count: int, registers: list[int],
                   set_values: Sequence[int] | Sequence[bool] | None) -> ExcCodes | None:
        if count > self.max_registers:
            return ExcCodes.ILLEGAL_VALUE
        if address + count > self.image.size(table):
            return ExcCodes.ILLEGAL_ADDRESS
        problem = self._check(table, address, count, set_values is not None)
        if problem is not None:
            return problem
        if set_values is not None:
            touched = self.image.write(table, address, [int(v) for v in set_values])
            self._notify(touched)
        image = self.image.regs[table]
        registers[address - base : address - base + count] = image[address : address + count]
        return None

    def _bits(self, table: str, base_reg: int, address: int, n_written: int | None, registers: list[int],
              set_values: Sequence[int] | Sequence[bool] | None) -> ExcCodes | None:
        if set_values is not None and n_written:
            if address + n_written > self.image.size(table):
                return ExcCodes.ILLEGAL_ADDRESS
            problem = self._check(table, address, n_written, True)
            if problem is not None:
                return problem
            touched = self.image.write(table, address, [bool(v) for v in set_values])
            self._notify(touched)
        bits = self.image.bits[table]
        for r in range(len(registers) - 1):  # the last register of a pymodbus block is a guard
            word = 0
            first = (base_reg + r) * 16
            for k in range(16):
                i = first + k
                if i < len(bits) and bits[i]:
                    word |= 1 << k
            registers[r] = word
        if set_values is None and self.failed:
            # a read: refuse it when it touches a failed point (the span is unknown here: whole block)
            problem = self._check(table, address, 1, False)
            if problem is not None:
                return problem
        return None

    def _notify(self, touched: list[str]) -> None:
        if self.on_write is not None:
            for name in touched:
                self.on_write(name, self.image.get(name))
        if touched and self.notify is not None:
            self.notify()
