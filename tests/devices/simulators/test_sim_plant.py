"""A whole simulated plant on one clock, polled through a gateway config it wrote itself."""

from __future__ import annotations

import asyncio
import socket

import pytest

from devices.simulators import DEFAULT_PLANT, start_plant, start_simulator
from tests.devices.simulators.sim_testkit import DAY_SHIFT


def dump_yaml(config: dict) -> str:
    from devices.cli import gateway_yaml

    return gateway_yaml(config["devices"], config["gateway"]["id"], config["gateway"]["enterprise"])


async def test_default_plant_serves_every_device_and_its_config_polls_them() -> None:
    config_mod = pytest.importorskip("gateway.config")
    registry = pytest.importorskip("drivers.registry")
    plant = await start_plant(seed=9, speed=0, start=DAY_SHIFT)
    try:
        assert [s.name for s in plant] == [name for name, _ in DEFAULT_PLANT]
        assert len({s.port for s in plant}) == len(DEFAULT_PLANT)
        await plant.step(1800)
        assert len({s.now for s in plant}) == 1  # one clock
        cfg = config_mod.parse_config(dump_yaml(plant.gateway_config("gw-demo", "E150302001")), "<plant>")
        assert [d.name for d in cfg.devices] == [name for name, _ in DEFAULT_PLANT]
        for device in cfg.devices:
            driver = registry.driver_class(device.driver)(device)
            await driver.connect()
            try:
                samples = await driver.read([t for t in device.tags if t.readable])
            finally:
                await driver.close()
            expected = plant[device.name].values()
            for s in samples:
                assert s.quality == "good", (device.name, s.tag, s.error)
                assert s.value == pytest.approx(expected[s.tag]) if isinstance(s.value, float) \
                    else s.value == expected[s.tag]
        # the site's devices agree with each other: production everywhere in the day shift
        v = plant.values()
        assert v["belt_scale_main"]["running"] and v["washer"]["running"] and v["conveyor_plc"]["line_running"]
        assert v["power_meter"]["p_kw"] > 2000 and v["main_fan"]["running"]
    finally:
        await plant.stop()


async def test_plant_that_cannot_start_releases_what_it_started() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        with pytest.raises(OSError):
            await start_plant(["co_sensor", "dust_monitor"], base_port=busy - 1, speed=0)
        with socket.socket() as probe:  # the first simulator's port is free again
            probe.bind(("127.0.0.1", busy - 1))


async def test_bad_plant_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        await start_plant(["co_sensor", "co_sensor"], speed=0)
    with pytest.raises(ValueError, match="allowed: a-z"):
        await start_plant([("Gas Sensor", "co_sensor")], speed=0)
    with pytest.raises(KeyError, match="allowed: belt_scale"):
        await start_plant(["gas_chromatograph"], speed=0)


async def test_clock_runs_faster_than_real_time_by_itself() -> None:
    sim = await start_simulator("dust_monitor", speed=600, start=DAY_SHIFT)
    try:
        for _ in range(100):
            if sim.group.ticks_run >= 3:
                break
            await asyncio.sleep(0.05)
        assert sim.group.ticks_run >= 3
        assert (sim.now - DAY_SHIFT).total_seconds() == sim.group.ticks_run * sim.group.clock.tick
        assert sim.group.clock.tick == 30.0  # 600x: about 20 model steps per real second
    finally:
        await sim.stop()
