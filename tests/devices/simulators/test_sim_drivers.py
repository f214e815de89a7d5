"""Each simulator read (and written) through the gateway's real driver with the profile's own tags."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from devices.model import Sample
from devices.profiles.spec import device_spec
from devices.simulators import Simulator, start_simulator
from devices.simulators.models.belt_scale import TOTAL_MODULUS
from drivers.base import Driver
from tests.devices.simulators.sim_testkit import DAY_SHIFT

registry = pytest.importorskip("drivers.registry")

ALL = ["belt_scale", "truck_scale", "methane_sensor", "co_sensor", "dust_monitor", "ventilation_fan",
       "drainage_pump", "power_meter", "conveyor_plc"]  # washing_plant: in test_sim_opcua (one OPC UA server)
ROLLOVER_T = TOTAL_MODULUS / 1000.0  # 4294967.296 t: the totalizer's modulus in engineering units


@asynccontextmanager
async def simulated(profile: str, **conn: Any) -> AsyncIterator[tuple[Simulator, Driver]]:
    sim = await start_simulator(profile, seed=4, speed=0, start=DAY_SHIFT)
    spec = device_spec(profile, {**sim.connection, **conn})
    driver = registry.driver_class(spec.driver)(spec)
    try:
        await driver.connect()
        yield sim, driver
    finally:
        await driver.close()
        await sim.stop()


async def read_all(driver: Driver) -> dict[str, Sample]:
    tags = [t for t in driver.device.tags if t.readable]
    return {s.tag: s for s in await driver.read(tags)}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9,
                                                                                            abs_tol=1e-12)
    return bool(a == b)


async def read_matches(sim: Simulator, driver: Driver) -> None:
    for _ in range(2):
        await sim.step(900)
        samples = await read_all(driver)
        expected = sim.values()
        wrong = {name: (s.value, expected[name], s.quality, s.error) for name, s in samples.items()
                 if s.quality != "good" or not same(s.value, expected[name])}
        assert not wrong
        assert set(samples) == {t.name for t in driver.device.tags if t.readable}


@pytest.mark.parametrize("profile", ALL)
async def test_driver_reads_what_the_simulator_serves(profile: str) -> None:
    async with simulated(profile) as (sim, driver):
        await read_matches(sim, driver)


async def test_belt_scale_totalizer_across_rollover() -> None:
    async with simulated("belt_scale") as (sim, driver):
        sim.preset("total_t", ROLLOVER_T - 1.5)  # 1.5 t below the maximum
        await sim.publish()
        before = (await read_all(driver))["total_t"].value
        assert before == pytest.approx(ROLLOVER_T - 1.5, abs=1e-6)
        await sim.step(60)
        flows = []
        for _ in range(4):
            await sim.step(60)
            flows.append((await read_all(driver))["flow_tph"].value)
        after = (await read_all(driver))["total_t"].value
        assert after < before  # the decoded value dropped near the maximum
        delta = (after - before) % ROLLOVER_T  # what a meter reading series must compute
        assert 1.5 < delta < 1200 * 300 / 3600  # passed the maximum, within max flow × elapsed
        assert delta == pytest.approx(after + 1.5, abs=1e-6)


async def test_modbus_write_through_the_driver() -> None:
    async with simulated("belt_scale") as (sim, driver):
        await driver.write(driver.device.tag("flow_limit_tph"), 950)
        assert sim.model.v["flow_limit_tph"] == 950
        assert (await read_all(driver))["flow_limit_tph"].value == 950


async def test_s7_writes_through_the_driver_touch_only_their_bits() -> None:
    async with simulated("conveyor_plc") as (sim, driver):
        await driver.write(driver.device.tag("fault_reset"), False)
        assert (await read_all(driver))["run_request"].value is True
        await driver.write(driver.device.tag("speed_setpoint"), 3.0)
        await driver.write(driver.device.tag("run_request"), False)
        await sim.step(1)
        assert sim.model.v["speed_setpoint"] == 3.0 and sim.model.v["run_request"] is False
        await sim.step(120)
        samples = await read_all(driver)
        assert samples["line_state"].value == 0 and samples["message"].value == "STOPPED"


async def test_failed_modbus_point_gives_a_bad_sample_with_a_reason() -> None:
    async with simulated("methane_sensor") as (sim, driver):
        await sim.inject_fault("ch4_pct", "failed")
        s = (await read_all(driver))["ch4_pct"]
        assert s.quality == "bad" and s.value is None and s.error
        await sim.clear_fault()
        assert (await read_all(driver))["ch4_pct"].quality == "good"


async def test_out_of_range_sensor_reads_beyond_its_range_and_flags_fault() -> None:
    async with simulated("methane_sensor") as (sim, driver):
        await sim.inject_fault("ch4_pct", "out_of_range")
        samples = await read_all(driver)
        assert samples["ch4_pct"].value > 4.0 and samples["fault"].value is True


@pytest.mark.parametrize("profile", ["co_sensor", "conveyor_plc"])
async def test_silent_device_fails_the_read_and_is_read_again_after(profile: str) -> None:
    async with simulated(profile, timeout=0.3) as (sim, driver):
        await sim.inject_fault(None, "no_answer")
        try:
            samples = await read_all(driver)
            failed = all(s.quality == "bad" for s in samples.values())
        except Exception:  # the driver may also give up on the whole device: the runtime reconnects
            failed = True
        assert failed
        await sim.clear_fault()
        await driver.close()
        await driver.connect()
        assert all(s.quality == "good" for s in (await read_all(driver)).values())
