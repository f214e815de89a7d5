"""Shared connections, silent units, lost and returning servers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from devices.model import DeviceSpec, Sample, TagSpec
from drivers.base import DriverError
from drivers.modbus import ModbusDriver
from drivers.modbus.transport import LinkDown, UnitSilent, active_links
from tests.conftest import free_port
from tests.drivers.modbus.modbus_testkit import Lab, device, sim_device

TAGS = [TagSpec("a", "HR0"), TagSpec("b", "HR1", "int16")]


def regs(unit: int) -> dict[int, int]:
    return {0: unit * 10, 1: unit * 10 + 1}


async def test_devices_behind_one_endpoint_share_one_connection(lab: Lab) -> None:
    server = await lab.server(*(sim_device(u, hr=regs(u)) for u in (1, 2, 3)))
    drivers = [await lab.driver(device(server.port, TAGS, unit=u, name=f"d{u}")) for u in (1, 2, 3)]
    results = await asyncio.gather(*(d.read(TAGS) for d in drivers for _ in range(5)))
    assert [r[0].value for r in results] == [10] * 5 + [20] * 5 + [30] * 5
    assert server.connections == 1
    links = active_links()
    assert len(links) == 1 and links[0].refs == 3
    assert drivers[0].stats()["shared_by"] == 3
    for d in drivers:
        await d.close()
    assert active_links() == []


async def test_a_silent_unit_does_not_stall_the_others(lab: Lab) -> None:
    silent = lab.behaviour(silent=True)
    server = await lab.server(sim_device(1, hr=regs(1)), sim_device(2, hr=regs(2), behaviour=silent))
    alive = await lab.driver(device(server.port, TAGS, unit=1, name="alive"))
    dead = await lab.driver(device(server.port, TAGS, unit=2, name="dead", timeout=0.2))
    active_links()[0].backoff_initial = 600.0  # the dead unit is tried once in this test

    async def poll_alive() -> list[Sample]:
        out: list[Sample] = []
        for _ in range(40):
            out += await alive.read(TAGS)
        return out

    async def poll_dead() -> list[str]:
        errors = []
        for _ in range(40):
            with pytest.raises(UnitSilent) as err:
                await dead.read(TAGS)
            errors.append(str(err.value))
            await asyncio.sleep(0)
        return errors

    good, errors = await asyncio.gather(poll_alive(), poll_dead())
    assert len(good) == 80 and all(s.quality == "good" for s in good)
    assert len(server.requests(unit=2)) == 1
    assert "unit 2" in errors[0] and "no answer within 0.2 s" in errors[0]
    assert all("next try in" in e for e in errors[1:])
    assert dead.stats()["timeouts"] == 1
    assert server.connections == 1  # the shared connection was never dropped


async def test_a_silent_unit_is_tried_again_after_its_back_off(lab: Lab) -> None:
    silent = lab.behaviour(silent=True)
    server = await lab.server(sim_device(1, hr=regs(1), behaviour=silent))
    drv = await lab.driver(device(server.port, TAGS, timeout=0.1))
    link = active_links()[0]
    link.backoff_initial = 0.05
    with pytest.raises(UnitSilent):
        await drv.read(TAGS)
    assert link.unit_state(1).failures == 1
    silent.silent = False
    for _ in range(200):  # bounded: the back-off is 50 ms
        try:
            samples = await drv.read(TAGS)
            break
        except UnitSilent:
            await asyncio.sleep(0.01)
    else:
        pytest.fail("the unit was never tried again")
    assert [s.value for s in samples] == [10, 11]
    assert link.unit_state(1).failures == 0


async def test_unanswered_tcp_link_is_reopened(lab: Lab) -> None:
    silent = lab.behaviour(silent=True)
    server = await lab.server(sim_device(1, hr=regs(1), behaviour=silent))
    drv = await lab.driver(device(server.port, TAGS, timeout=0.05))
    link = active_links()[0]
    link.backoff_initial = 0.0
    for _ in range(3):
        with pytest.raises(UnitSilent):
            await drv.read(TAGS)
    with pytest.raises(LinkDown):  # three unanswered requests in a row: the socket was dropped
        await drv.read(TAGS)
    silent.silent = False
    await drv.connect()
    assert [s.value for s in await drv.read(TAGS)] == [10, 11]
    assert server.connections == 2


async def test_server_that_disappears_and_comes_back(lab: Lab) -> None:
    port = free_port()
    server = await lab.server(sim_device(1, hr=regs(1)), port=port)
    drv = await lab.driver(device(port, TAGS))
    assert [s.value for s in await drv.read(TAGS)] == [10, 11]
    await server.stop()
    await asyncio.sleep(0)
    with pytest.raises(DriverError):
        for _ in range(50):  # the loss is seen at the latest on the next request
            await drv.read(TAGS)
            await asyncio.sleep(0.01)
    await drv.close()
    with pytest.raises(DriverError, match="cannot connect"):
        await drv.connect()
    await lab.server(sim_device(1, hr={0: 77, 1: 78}), port=port)
    await drv.connect()  # the same driver instance, no restart
    assert [s.value for s in await drv.read(TAGS)] == [77, 78]


async def test_loss_during_a_request_is_reported_as_lost_connection_not_as_silence(lab: Lab) -> None:
    silent = lab.behaviour(silent=True)
    server = await lab.server(sim_device(1, hr=regs(1), behaviour=silent))
    drv = await lab.driver(device(server.port, TAGS, timeout=30.0))
    reading = asyncio.create_task(drv.read(TAGS))
    for _ in range(200):
        if server.seen:
            break
        await asyncio.sleep(0.005)
    await server.stop()
    with pytest.raises(LinkDown):
        await asyncio.wait_for(reading, 10)
    assert drv.stats()["timeouts"] == 0  # failed at once, not after its 30 s timeout


class Collect:
    """A minimal outlet for the gateway runtime."""

    def __init__(self) -> None:
        self.batches: list[list[Sample]] = []
        self.states: list[tuple[bool, str | None]] = []

    async def start(self, write_handler: Any) -> None:
        return None

    async def submit(self, device: str, samples: Sequence[Sample]) -> None:
        self.batches.append(list(samples))

    def device_state(self, device: str, up: bool, since: float, error: str | None) -> None:
        self.states.append((up, error))

    def stats(self) -> dict[str, Any]:
        return {}

    async def stop(self) -> None:
        return None


async def wait_for(predicate: Any, what: str, limit: int = 500) -> None:
    for _ in range(limit):
        if predicate():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


async def test_gateway_runtime_reconnects_after_the_device_returns(lab: Lab) -> None:
    runtime = pytest.importorskip("gateway.runtime")
    port = free_port()
    server = await lab.server(sim_device(1, hr=regs(1)), port=port)
    spec = DeviceSpec("scale", "modbus", {"host": "127.0.0.1", "port": port, "timeout": 0.2}, tuple(TAGS),
                      interval=0.02, heartbeat=0.001, timeout=0.2)
    out = Collect()
    runner = runtime.DeviceRunner(spec, out, factory=ModbusDriver, backoff_cap=0.05)
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: any(s.value == 10 for b in out.batches for s in b), "first good sample")
        await server.stop()
        await wait_for(lambda: any(not up for up, _ in out.states), "the device to go down")
        await lab.server(sim_device(1, hr={0: 5, 1: 6}), port=port)
        await wait_for(lambda: any(s.value == 5 for b in out.batches for s in b), "samples after the return")
        assert [up for up, _ in out.states][-1] is True
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_dead_unit_behind_a_gateway_does_not_reopen_the_shared_connection(lab: Lab) -> None:
    silent = lab.behaviour(silent=True)
    server = await lab.server(sim_device(1, hr=regs(1)), sim_device(2, hr=regs(2), behaviour=silent))
    alive = await lab.driver(device(server.port, TAGS, unit=1, name="alive"))
    dead = await lab.driver(device(server.port, TAGS, unit=2, name="dead", timeout=0.05))
    link = active_links()[0]
    link.backoff_initial = 0.0
    await alive.read(TAGS)
    for _ in range(5):
        with pytest.raises(UnitSilent):
            await dead.read(TAGS)
    assert link.connected and server.connections == 1  # unit 1 answered on it: the socket is fine
    assert [s.value for s in await alive.read(TAGS)] == [10, 11]


async def test_timeouts_work_without_access_to_the_pending_pymodbus_answer(lab: Lab) -> None:
    # the fallback for pymodbus versions without `ctx.response_future`: a timeout context
    silent = lab.behaviour(silent=True)
    server = await lab.server(sim_device(1, hr=regs(1)), sim_device(2, hr=regs(2), behaviour=silent))
    alive = await lab.driver(device(server.port, TAGS, unit=1, name="alive"))
    dead = await lab.driver(device(server.port, TAGS, unit=2, name="dead", timeout=0.05))
    link = active_links()[0]
    link._direct = False
    link._client.ctx.comm_params.timeout_connect = 3600.0  # type: ignore[union-attr]
    with pytest.raises(UnitSilent, match=r"no answer within 0\.05 s"):
        await dead.read(TAGS)
    assert [s.value for s in await alive.read(TAGS)] == [10, 11]


async def test_a_short_timeout_after_a_long_one_on_the_same_line_is_kept(lab: Lab) -> None:
    silent = lab.behaviour(silent=True)
    server = await lab.server(sim_device(1, hr=regs(1)), sim_device(2, hr=regs(2), behaviour=silent))
    patient = await lab.driver(device(server.port, TAGS, unit=1, name="patient", timeout=30.0))
    hasty = await lab.driver(device(server.port, TAGS, unit=2, name="hasty", timeout=0.05))
    await patient.read(TAGS)  # leaves the link's watchdog armed 30 s ahead
    with pytest.raises(UnitSilent, match=r"within 0\.05 s"):
        await asyncio.wait_for(hasty.read(TAGS), 10)  # the 0.05 s deadline re-armed it
    assert [s.value for s in await patient.read(TAGS)] == [10, 11]
