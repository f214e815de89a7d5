"""The runtime's hot path: bad samples counted in the filter's pass, and collector tuning."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from devices.model import Sample, TagSpec
from gateway.outlet import WriteHandler
from gateway.runtime import GC_YOUNG_THRESHOLD, Gateway, tune_gc
from gateway.settings import GatewayConfig
from tests.drivers.modbus.modbus_testkit import Lab, device, sim_device


class Outlet:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    async def start(self, write_handler: WriteHandler | None) -> None:
        return None

    async def submit(self, device: str, samples: Sequence[Sample]) -> None:
        self.samples.extend(samples)

    def device_state(self, device: str, up: bool, since: float, error: str | None) -> None:
        return None

    def stats(self) -> dict[str, Any]:
        return {}

    async def stop(self) -> None:
        return None


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    lab = Lab()
    try:
        yield lab
    finally:
        await lab.close()


@pytest.fixture
def gc_threshold() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


async def test_bad_samples_are_counted_even_when_the_filter_does_not_republish_them(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr={0: 5, 1: 7}))  # HR40 is not mapped: ILLEGAL ADDRESS
    tags = [TagSpec("a", "HR0", "int16"), TagSpec("b", "HR1", "int16"), TagSpec("gone", "HR40", "int16")]
    spec = replace(device(server.port, tags, name="plc"), interval=0.02, heartbeat=None)
    out = Outlet()
    gw = Gateway(GatewayConfig(id="gw", enterprise="E", devices=(spec,)), out, tune_memory=False)
    await gw.start()
    try:
        st = gw.runners["plc"].stats
        for _ in range(300):
            if st.reads >= 5:
                break
            await asyncio.sleep(0.02)
    finally:
        await gw.stop()
    assert st.reads >= 5
    assert st.read_errors == st.reads and st.bad_samples == st.reads  # one bad tag in every cycle
    assert "ILLEGAL" in (st.last_error or "")
    # nothing changed after the first cycle, so report-by-change published each tag once
    assert sorted((s.tag, s.quality) for s in out.samples) == [("a", "good"), ("b", "good"), ("gone", "bad")]


def test_tune_gc_only_ever_raises_the_young_threshold(gc_threshold: None) -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
    gc.set_threshold(GC_YOUNG_THRESHOLD * 2, 5, 5)
    tune_gc()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD * 2, 5, 5)
    gc.set_threshold(0, 10, 10)  # collection switched off deliberately: left alone
    tune_gc()
    assert gc.get_threshold()[0] == 0


async def test_a_gateway_can_leave_the_collector_alone(gc_threshold: None) -> None:
    gc.set_threshold(700, 10, 10)
    gw = Gateway(GatewayConfig(id="gw", enterprise="E"), Outlet(), tune_memory=False)
    await gw.start()
    await gw.stop()
    assert gc.get_threshold() == (700, 10, 10)
    gw = Gateway(GatewayConfig(id="gw", enterprise="E"), Outlet())
    await gw.start()
    await gw.stop()
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
