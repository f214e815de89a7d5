"""The conveyor PLC simulator read and written with python-snap7's own client."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
import snap7
from snap7.type import Area, Parameter, WordLen

from devices.simulators import FaultError, Simulator, start_simulator
from tests.devices.simulators.sim_testkit import DAY_SHIFT


@pytest.fixture
async def plc() -> AsyncIterator[Simulator]:
    sim = await start_simulator("conveyor_plc", seed=1, speed=0, start=DAY_SHIFT)
    try:
        yield sim
    finally:
        await sim.stop()


class Client:
    """snap7's blocking client, run in a worker thread so the simulator keeps serving."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.c = snap7.Client()
        self.c.set_param(Parameter.RecvTimeout, 500)

    async def __aenter__(self) -> Client:
        await asyncio.to_thread(self.c.connect, "127.0.0.1", 0, 1, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.c.disconnect)

    async def db(self, db: int, start: int, size: int) -> bytes:
        return bytes(await asyncio.to_thread(self.c.db_read, db, start, size))

    async def write_bit(self, db: int, byte: int, bit: int, value: bool) -> None:
        await asyncio.to_thread(self.c.write_area, Area.DB, db, byte * 8 + bit, bytearray([int(value)]), WordLen.Bit)

    async def read_bit(self, db: int, byte: int, bit: int) -> bool:
        data = await asyncio.to_thread(self.c.read_area, Area.DB, db, byte * 8 + bit, 1, WordLen.Bit)
        return bool(data[0])


async def until(predicate, rounds: int = 200) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        if await predicate():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_db_values_are_big_endian_as_in_the_plc(plc: Simulator) -> None:
    async with Client(plc.port) as c:
        data = await c.db(1, 0, 78)
    v = plc.values()
    assert data[0] & 0x0F == 0x0F  # belts 1-3 and the line running
    assert data[1] == v["line_state"] == 2
    assert struct.unpack(">f", data[4:8])[0] == v["belt1_speed"] == pytest.approx(3.5)
    assert struct.unpack(">h", data[28:30])[0] == v["start_count"]
    assert struct.unpack(">I", data[30:34])[0] == v["run_seconds"]
    assert struct.unpack(">d", data[38:46])[0] == v["energy_kwh"]
    assert data[46] == 30 and data[48 : 48 + data[47]].decode() == v["message"] == "RUNNING"


async def test_bit_write_leaves_the_other_bits_of_the_byte(plc: Simulator) -> None:
    """python-snap7's stock server writes a whole byte for a bit access; a PLC writes one bit."""
    async with Client(plc.port) as c:
        assert await c.read_bit(2, 0, 0) is True  # run_request, raised for the shift
        await c.write_bit(2, 0, 1, False)  # fault_reset, the neighbouring bit
        assert await c.read_bit(2, 0, 0) is True
        assert (await c.db(2, 0, 1))[0] == 0b01
    assert plc.model.v["run_request"] is True


async def test_bit_read_returns_the_bit_not_its_byte(plc: Simulator) -> None:
    async with Client(plc.port) as c:
        assert (await c.db(2, 0, 1))[0] == 0b01
        assert await c.read_bit(2, 0, 1) is False


async def test_run_request_written_stops_the_line(plc: Simulator) -> None:
    async with Client(plc.port) as c:
        await c.write_bit(2, 0, 0, False)

        async def seen() -> bool:
            return plc.model.v["run_request"] is False

        assert await until(seen)
        for _ in range(12):
            await plc.step(10)
        data = await c.db(1, 0, 2)
    assert data[0] & 0x0F == 0 and data[1] == 0
    assert plc.values()["message"] == "STOPPED"


async def test_speed_setpoint_written_as_real(plc: Simulator) -> None:
    async with Client(plc.port) as c:
        await asyncio.to_thread(c.c.db_write, 2, 2, bytearray(struct.pack(">f", 2.5)))

        async def taken() -> bool:
            return plc.model.v["speed_setpoint"] == 2.5

        assert await until(taken)
        for _ in range(6):
            await plc.step(2)
        assert struct.unpack(">f", (await c.db(1, 4, 4)))[0] == pytest.approx(2.5)


async def test_alive_counter_in_markers(plc: Simulator) -> None:
    async with Client(plc.port) as c:
        a = struct.unpack(">H", bytes(await asyncio.to_thread(c.c.read_area, Area.MK, 0, 10, 2)))[0]
        await plc.step(5)
        b = struct.unpack(">H", bytes(await asyncio.to_thread(c.c.read_area, Area.MK, 0, 10, 2)))[0]
    assert (b - a) % 65536 == 5


async def test_offline_plc_refuses_and_comes_back(plc: Simulator) -> None:
    await plc.inject_fault(None, "offline")
    with pytest.raises(Exception):  # noqa: B017 - snap7 raises its own connection errors
        async with Client(plc.port):
            pass
    await plc.clear_fault()
    async with Client(plc.port) as c:
        assert (await c.db(1, 1, 1))[0] == 2


async def test_failed_points_are_not_an_s7_fault(plc: Simulator) -> None:
    with pytest.raises(FaultError, match="not simulated for s7"):
        await plc.inject_fault("belt1_speed", "failed")
