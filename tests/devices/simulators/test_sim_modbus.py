"""Modbus simulators read and written with a plain pymodbus client, faults included."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Sequence

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from devices.simulators import FaultError, Simulator, start_simulator
from drivers.codec import decode
from tests.devices.simulators.sim_testkit import DAY_SHIFT


async def started(profile: str, **kw: object) -> Simulator:
    return await start_simulator(profile, seed=1, speed=0, start=DAY_SHIFT, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def belt() -> AsyncIterator[Simulator]:
    sim = await started("belt_scale")
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def client(belt: Simulator) -> AsyncIterator[AsyncModbusTcpClient]:
    c = AsyncModbusTcpClient("127.0.0.1", port=belt.port, timeout=0.5, retries=0, reconnect_delay=0)
    assert await c.connect()
    try:
        yield c
    finally:
        c.close()


def regs_bytes(regs: Sequence[int]) -> bytes:
    return struct.pack(f">{len(regs)}H", *regs)


async def wait_for(predicate, rounds: int = 200) -> bool:  # type: ignore[no-untyped-def]
    """Let the event loop run until `predicate()` holds (bounded by rounds, not by time)."""
    for _ in range(rounds):
        if await predicate():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_registers_carry_the_profile_encoding(belt: Simulator, client: AsyncModbusTcpClient) -> None:
    await belt.step(600)
    r = await client.read_holding_registers(0, count=11)
    data = regs_bytes(r.registers)
    v = belt.values()
    assert decode(data[0:4], "float32", "CDAB") == v["flow_tph"] > 100
    assert decode(data[4:8], "uint32", "CDAB") * 0.001 == pytest.approx(v["total_t"], abs=1e-9)
    assert decode(data[8:12], "float32", "CDAB") == v["speed_mps"]
    assert bool(r.registers[8] & 1) is v["running"] is True
    assert r.registers[10] == v["flow_limit_tph"] == 1100


async def test_step_in_pieces_equals_one_step() -> None:
    a, b = await started("belt_scale"), await started("belt_scale")
    try:
        await a.step(120)
        for _ in range(120):
            await b.step(1)
        assert a.values() == b.values()
        assert a.now == b.now
    finally:
        await a.stop()
        await b.stop()


async def test_setpoint_write_reaches_the_model_and_reads_back(belt: Simulator, client: AsyncModbusTcpClient) -> None:
    r = await client.write_register(10, 900)
    assert not r.isError()
    assert belt.model.v["flow_limit_tph"] == 900
    assert (await client.read_holding_registers(10, count=1)).registers == [900]
    await belt.step(10)
    assert belt.values()["flow_limit_tph"] == 900


async def test_write_to_a_read_only_register_is_refused(belt: Simulator, client: AsyncModbusTcpClient) -> None:
    r = await client.write_registers(2, [0, 0])
    assert r.isError() and r.exception_code == 2
    assert belt.values()["total_t"] > 1000


async def test_reset_coil_zeroes_the_totalizer(belt: Simulator, client: AsyncModbusTcpClient) -> None:
    assert not (await client.write_coil(0, True)).isError()

    async def total_is_zero() -> bool:
        regs = (await client.read_holding_registers(2, count=2)).registers
        return decode(regs_bytes(regs), "uint32", "CDAB") == 0

    assert await wait_for(total_is_zero)
    assert (await client.read_coils(0, count=1)).bits[0] is False  # a command bit, cleared


async def test_requests_above_the_device_cap_are_refused() -> None:
    sim = await started("power_meter")  # max_registers_per_request: 100
    c = AsyncModbusTcpClient("127.0.0.1", port=sim.port, timeout=0.5, retries=0)
    try:
        await c.connect()
        assert not (await c.read_holding_registers(100, count=100)).isError()
        r = await c.read_holding_registers(100, count=101)
        assert r.isError() and r.exception_code == 3
    finally:
        c.close()
        await sim.stop()


async def test_gbk_plate_string() -> None:
    sim = await started("truck_scale")
    c = AsyncModbusTcpClient("127.0.0.1", port=sim.port, timeout=0.5, retries=0)
    try:
        await c.connect()
        plate = ""
        for _ in range(120):  # wait for a truck in simulated minutes, not real time
            await sim.step(30)
            plate = sim.values()["last_plate"]
            if plate:
                break
        assert plate.startswith("蒙L")
        regs = (await c.read_holding_registers(20, count=6)).registers
        assert decode(regs_bytes(regs), "string", "ABCD", "gbk") == plate
    finally:
        c.close()
        await sim.stop()


async def test_failed_point_answers_with_an_exception_others_stay_readable(
        belt: Simulator, client: AsyncModbusTcpClient) -> None:
    await belt.inject_fault("speed_mps", "failed")
    r = await client.read_holding_registers(4, count=2)
    assert r.isError() and r.exception_code == 4
    assert not (await client.read_holding_registers(0, count=4)).isError()
    await belt.clear_fault("speed_mps")
    assert not (await client.read_holding_registers(4, count=2)).isError()


async def test_stuck_and_out_of_range(belt: Simulator, client: AsyncModbusTcpClient) -> None:
    await belt.inject_fault("flow_tph", "stuck")
    await belt.inject_fault("load_kgpm", "out_of_range")
    frozen = belt.values()["flow_tph"]
    for _ in range(5):
        await belt.step(60)
        assert belt.values()["flow_tph"] == frozen
    assert belt.true_values()["flow_tph"] != frozen
    regs = (await client.read_holding_registers(6, count=2)).registers
    assert decode(regs_bytes(regs), "float32", "CDAB") > belt.model.ranges["load_kgpm"][1]
    assert belt.values()["fault"] is True  # the integrator notices an out-of-range load cell
    assert belt.faults == {"flow_tph": "stuck", "load_kgpm": "out_of_range"}
    await belt.clear_fault()
    await belt.step(5)
    assert belt.values()["flow_tph"] != frozen and belt.values()["fault"] is False


async def test_no_answer_times_out_and_recovers(belt: Simulator, client: AsyncModbusTcpClient) -> None:
    await belt.inject_fault(None, "no_answer")
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=2)
    await belt.clear_fault()
    c2 = AsyncModbusTcpClient("127.0.0.1", port=belt.port, timeout=0.5, retries=0)
    try:
        await c2.connect()
        assert not (await c2.read_holding_registers(0, count=2)).isError()
    finally:
        c2.close()


async def test_offline_drops_connections_and_returns_on_the_same_port(
        belt: Simulator, client: AsyncModbusTcpClient) -> None:
    port = belt.port
    await belt.inject_fault(None, "offline")
    assert belt.faults == {"*": "offline"}
    refused = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.3, retries=0, reconnect_delay=0)
    assert not await refused.connect()
    refused.close()
    await belt.clear_fault()
    assert belt.port == port
    back = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)
    try:
        assert await back.connect()
        assert not (await back.read_holding_registers(0, count=2)).isError()
    finally:
        back.close()


async def test_bad_faults_are_explained(belt: Simulator) -> None:
    with pytest.raises(FaultError, match="allowed: stuck, out_of_range, failed, offline, no_answer"):
        await belt.inject_fault("flow_tph", "melted")
    with pytest.raises(FaultError, match="needs a tag"):
        await belt.inject_fault(None, "stuck")
    with pytest.raises(FaultError, match="no tag"):
        await belt.inject_fault("flux", "stuck")
    with pytest.raises(FaultError, match="no measuring range"):
        await belt.inject_fault("running", "out_of_range")
