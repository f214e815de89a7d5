"""Real pymodbus servers for the Modbus driver tests, started in-process on free ports.

`sim_device` builds a device from plain maps: registers not given are unmapped, so a read that
touches them answers ILLEGAL DATA ADDRESS (the holes of real devices). `SimServer` records every
request it receives, so tests count requests instead of timing them, and can make a unit busy
or silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from devices.model import DeviceSpec, TagSpec
from drivers.modbus import ModbusDriver


def _runs(values: Mapping[int, Any]) -> list[tuple[int, list[Any]]]:
    runs: list[tuple[int, list[Any]]] = []
    for addr in sorted(values):
        if runs and runs[-1][0] + len(runs[-1][1]) == addr:
            runs[-1][1].append(values[addr])
        else:
            runs.append((addr, [values[addr]]))
    return runs


def _reg_block(values: Mapping[int, int]) -> list[SimData]:
    if not values:
        return [SimData(60000, values=[0], datatype=DataType.REGISTERS)]
    return [SimData(a, values=list(v), datatype=DataType.REGISTERS) for a, v in _runs(values)]


def _bit_block(values: Mapping[int, bool]) -> list[SimData]:
    if not values:
        return [SimData(60000, values=[False], datatype=DataType.BITS)]
    return [SimData(a, values=[bool(x) for x in v], datatype=DataType.BITS) for a, v in _runs(values)]


@dataclass
class Behaviour:
    """Per-unit misbehaviour, switchable while the server runs."""

    silent: bool = False
    busy: set[int] = field(default_factory=set)  # addresses that answer DEVICE_BUSY
    release: asyncio.Event = field(default_factory=asyncio.Event)


def sim_device(unit: int, hr: Mapping[int, int] | None = None, ir: Mapping[int, int] | None = None,
               co: Mapping[int, bool] | None = None, di: Mapping[int, bool] | None = None,
               behaviour: Behaviour | None = None) -> SimDevice:
    beh = behaviour

    async def action(function_code: int, start_address: int, address: int, count: int,
                     registers: list[int], set_values: Any) -> ExcCodes | None:
        if beh is None:
            return None
        if beh.silent:
            await beh.release.wait()
            return ExcCodes.DEVICE_FAILURE
        if beh.busy and any(a in beh.busy for a in range(address, address + count)):
            return ExcCodes.DEVICE_BUSY
        return None

    return SimDevice(unit, simdata=(_bit_block(co or {}), _bit_block(di or {}), _reg_block(hr or {}),
                                    _reg_block(ir or {})), action=action)


@dataclass(frozen=True)
class Seen:
    unit: int
    function: int
    address: int
    count: int


class SimServer:
    """A pymodbus server (TCP, RTU-over-TCP or RTU on a serial port) that logs requests."""

    def __init__(self, devices: Sequence[SimDevice], framer: FramerType = FramerType.SOCKET,
                 serial_port: str | None = None, port: int = 0) -> None:
        self.devices = list(devices)
        self.framer = framer
        self.serial_port = serial_port
        self.port = port
        self.seen: list[Seen] = []
        self.connections = 0
        self.server: ModbusTcpServer | ModbusSerialServer | None = None

    def _trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            count = getattr(pdu, "count", 0) or len(getattr(pdu, "registers", []) or getattr(pdu, "bits", []) or [])
            self.seen.append(Seen(pdu.dev_id, pdu.function_code, getattr(pdu, "address", 0), count))
        return pdu

    def _connect(self, up: bool) -> None:
        self.connections += bool(up)

    async def start(self) -> SimServer:
        if self.serial_port is not None:
            self.server = ModbusSerialServer(self.devices, framer=FramerType.RTU, port=self.serial_port,
                                             baudrate=19200, trace_pdu=self._trace,
                                             trace_connect=self._connect)
        else:
            self.server = ModbusTcpServer(self.devices, framer=self.framer, address=("127.0.0.1", self.port),
                                          trace_pdu=self._trace, trace_connect=self._connect)
        if not await self.server.listen():
            raise RuntimeError("server did not start")
        if self.serial_port is None:
            self.port = self.server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None
            await asyncio.sleep(0)

    def requests(self, function: int | None = None, unit: int | None = None) -> list[Seen]:
        return [s for s in self.seen if (function is None or s.function == function)
                and (unit is None or s.unit == unit)]


def device(port: int, tags: Sequence[TagSpec], *, unit: int = 1, timeout: float = 0.5,
           options: Mapping[str, Any] | None = None, name: str = "dev", **connection: Any) -> DeviceSpec:
    conn = {"host": "127.0.0.1", "port": port, "unit": unit, "timeout": timeout, **connection}
    return DeviceSpec(name, "modbus", conn, tuple(tags), options=dict(options or {}), timeout=timeout)


def by_tag(samples: Sequence[Any]) -> dict[str, Any]:
    return {s.tag: s for s in samples}


class Lab:
    """Starts servers and drivers for one test and stops all of them afterwards."""

    def __init__(self) -> None:
        self.servers: list[SimServer] = []
        self.drivers: list[ModbusDriver] = []
        self.behaviours: list[Behaviour] = []

    def behaviour(self, **kw: Any) -> Behaviour:
        b = Behaviour(**kw)
        self.behaviours.append(b)
        return b

    async def server(self, *devices: SimDevice, **kw: Any) -> SimServer:
        server = await SimServer(list(devices), **kw).start()
        self.servers.append(server)
        return server

    async def driver(self, spec: DeviceSpec, connect: bool = True) -> ModbusDriver:
        driver = ModbusDriver(spec)
        self.drivers.append(driver)
        if connect:
            await driver.connect()
        return driver

    async def close(self) -> None:
        for b in self.behaviours:
            b.release.set()
        for d in self.drivers:
            await d.close()
        for s in self.servers:
            await s.stop()
