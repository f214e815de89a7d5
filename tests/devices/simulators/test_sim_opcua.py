"""The washing-plant simulator seen through a plain asyncua client (one server for the module)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from asyncua import Client, ua

from devices.profiles.spec import device_spec, load_spec
from devices.simulators import Simulator, start_simulator
from tests.devices.simulators.sim_testkit import DAY_SHIFT

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def washer() -> AsyncIterator[Simulator]:
    sim = await start_simulator("washing_plant", seed=1, speed=0, start=DAY_SHIFT)
    try:
        yield sim
    finally:
        await sim.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def client(washer: Simulator) -> AsyncIterator[Client]:
    c = Client(washer.endpoint, timeout=2)
    await c.connect()
    try:
        yield c
    finally:
        await c.disconnect()


async def test_every_profile_node_id_serves_its_value(washer: Simulator, client: Client) -> None:
    values = washer.values()
    for tag in load_spec("washing_plant").tags:
        dv = await client.get_node(tag.address).read_data_value()
        assert dv.Value is not None and dv.StatusCode is not None
        assert dv.Value.Value == values[tag.name], tag.name
        assert dv.StatusCode.is_good() and dv.SourceTimestamp is not None
    assert (await client.get_node("ns=2;s=Washer.Running").read_data_type_as_variant_type()) == ua.VariantType.Boolean
    assert (await client.get_node("ns=2;i=1001").read_value()) == 2  # running
    assert values["feed_tph"] > 300


async def test_subscription_sees_changes_after_a_step(washer: Simulator, client: Client) -> None:
    changes: asyncio.Queue[float] = asyncio.Queue()

    class Handler:
        def datachange_notification(self, node: object, val: float, data: object) -> None:
            changes.put_nowait(val)

    sub = await client.create_subscription(50, Handler())
    try:
        await sub.subscribe_data_change(client.get_node("ns=2;s=Washer.Feed"))
        first = await asyncio.wait_for(changes.get(), timeout=5)  # the initial value
        await washer.step(120)
        second = await asyncio.wait_for(changes.get(), timeout=5)
        assert first != second == washer.values()["feed_tph"]
    finally:
        await sub.delete()


async def test_density_setpoint_write_drives_the_density_loop(washer: Simulator, client: Client) -> None:
    node = client.get_node("ns=2;s=Washer.DensitySetpoint")
    await node.write_value(ua.Variant(1.5, ua.VariantType.Double))
    for _ in range(200):
        if washer.model.v["density_setpoint"] == 1.5:
            break
        await asyncio.sleep(0.01)
    assert washer.model.v["density_setpoint"] == 1.5
    await washer.step(300)
    assert (await client.get_node("ns=2;s=Washer.Density1").read_value()) == pytest.approx(1.5, abs=0.02)
    assert await node.read_value() == 1.5
    await node.write_value(ua.Variant(1.42, ua.VariantType.Double))


async def test_failed_and_out_of_range_points_carry_opc_ua_status(washer: Simulator, client: Client) -> None:
    try:
        await washer.inject_fault("clean_ash_pct", "failed")
        await washer.inject_fault("clean_moisture_pct", "out_of_range")
        ash = await client.get_node("ns=2;s=Washer.CleanAsh").read_data_value(raise_on_bad_status=False)
        assert ash.StatusCode is not None and ash.StatusCode.value == ua.StatusCodes.BadSensorFailure
        moist = await client.get_node("ns=2;s=Washer.CleanMoisture").read_data_value(raise_on_bad_status=False)
        assert moist.StatusCode is not None and moist.Value is not None
        assert moist.StatusCode.value == ua.StatusCodes.UncertainEngineeringUnitsExceeded
        assert moist.Value.Value > washer.model.ranges["clean_moisture_pct"][1]
    finally:
        await washer.clear_fault()
    ash = await client.get_node("ns=2;s=Washer.CleanAsh").read_data_value()
    assert ash.StatusCode is not None and ash.Value is not None
    assert ash.StatusCode.is_good() and 5 < ash.Value.Value < 20


async def test_offline_server_refuses_then_serves_again(washer: Simulator) -> None:
    try:
        await washer.inject_fault(None, "offline")
        with pytest.raises((OSError, asyncio.TimeoutError, ua.UaError)):
            async with Client(washer.endpoint, timeout=1):
                pass
    finally:
        await washer.clear_fault()
    async with Client(washer.endpoint, timeout=2) as c:
        assert await c.get_node("ns=2;i=1001").read_value() == 2


async def test_no_answer_is_not_offered_for_opc_ua(washer: Simulator) -> None:
    with pytest.raises(ValueError, match="not simulated for opcua"):
        await washer.inject_fault(None, "no_answer")


async def test_opcua_driver_reads_and_writes_the_washing_plant(washer: Simulator) -> None:
    registry = pytest.importorskip("drivers.registry")
    spec = device_spec("washing_plant", washer.connection)
    driver = registry.driver_class("opcua")(spec)
    await driver.connect()
    try:
        for _ in range(2):
            await washer.step(900)
            samples = {s.tag: s for s in await driver.read([t for t in spec.tags if t.readable])}
            expected = washer.values()
            assert {name: (s.quality, s.value) for name, s in samples.items()} == \
                {name: ("good", expected[name]) for name in samples}
        await driver.write(spec.tag("density_setpoint"), 1.47)
        await washer.step(1)
        assert washer.model.v["density_setpoint"] == 1.47
        await washer.step(600)
        medium = (await driver.read([spec.tag("medium_density")]))[0]
        assert medium.value == pytest.approx(1.47, abs=0.02)
    finally:
        await driver.close()
