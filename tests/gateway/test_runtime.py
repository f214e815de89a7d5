"""The runtime against real asyncio timing: hanging, failing and flaky devices."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from devices.model import Access, DeviceSpec, Sample, TagSpec
from drivers.base import DriverError, TagError
from drivers.fake import FakeDriver
from gateway.backoff import Backoff
from gateway.outlet import WriteHandler
from gateway.runtime import Gateway
from gateway.settings import GatewayConfig


class RecordingOutlet:
    def __init__(self) -> None:
        self.batches: list[tuple[str, list[Sample]]] = []
        self.states: list[tuple[str, bool, str | None]] = []

    async def start(self, write_handler: WriteHandler | None) -> None:
        self.write_handler = write_handler

    async def submit(self, device: str, samples: Sequence[Sample]) -> None:
        self.batches.append((device, list(samples)))

    def device_state(self, device: str, up: bool, since: float, error: str | None) -> None:
        self.states.append((device, up, error))

    def stats(self) -> dict[str, Any]:
        return {"batches": len(self.batches)}

    async def stop(self) -> None:
        return None

    def samples(self, device: str) -> list[Sample]:
        return [s for d, b in self.batches if d == device for s in b]


def device(name: str, behaviour: str = "ok", interval: float = 0.02, **conn: Any) -> DeviceSpec:
    tags = (TagSpec("a", "HR0"), TagSpec("b", "HR1", access=Access.READ_WRITE, type="int16"))
    return DeviceSpec(name, "fake", {"behaviour": behaviour, **conn}, tags, interval=interval, heartbeat=None,
                      timeout=0.1, options={"read_timeout": 0.2})


def config(*devices: DeviceSpec) -> GatewayConfig:
    return GatewayConfig(id="gw", enterprise="E", devices=devices)


async def run_for(gw: Gateway, seconds: float) -> None:
    await gw.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await gw.stop()


async def test_hanging_device_does_not_cost_a_healthy_one_its_cycles() -> None:
    window = 1.0
    alone = Gateway(config(device("healthy")), RecordingOutlet(), backoff_cap=0.2)
    await run_for(alone, window)
    cycles_alone = alone.runners["healthy"].stats.reads

    beside = Gateway(config(device("healthy"), device("stuck", "hang")), RecordingOutlet(), backoff_cap=0.2)
    await run_for(beside, window)
    healthy, stuck = beside.runners["healthy"].stats, beside.runners["stuck"].stats
    assert cycles_alone > 10
    assert healthy.reads >= 0.8 * cycles_alone, (healthy.reads, cycles_alone)
    assert healthy.overruns <= alone.runners["healthy"].stats.overruns + 1
    assert stuck.reads == 0 and stuck.connects >= 2  # reconnected after each hung read
    assert "timed out" in (stuck.last_error or "")


async def test_failing_device_gives_bad_samples_with_reason_and_retries() -> None:
    outlet = RecordingOutlet()
    gw = Gateway(config(device("dead", "error")), outlet, backoff_cap=0.05)
    await run_for(gw, 0.5)
    bad = outlet.samples("dead")
    assert bad and all(s.quality == "bad" and s.value is None for s in bad)
    assert "connect failed" in (bad[0].error or "") and "refused" in (bad[0].error or "")
    assert gw.runners["dead"].backoff.attempt >= 3  # kept retrying, never crashed
    assert outlet.states[0] == ("dead", False, bad[0].error)


async def test_flaky_device_reconnects_and_reports_state_changes() -> None:
    outlet = RecordingOutlet()
    gw = Gateway(config(device("flaky", "flaky", fail_every=4)), outlet, backoff_cap=0.02)
    await run_for(gw, 0.8)
    st = gw.runners["flaky"].stats
    assert st.connects >= 2
    ups = [s for s in outlet.states if s[1]]
    downs = [s for s in outlet.states if not s[1]]
    assert ups and downs and "flaky" in (downs[0][2] or "")
    qualities = [s.quality for s in outlet.samples("flaky")]
    assert "bad" in qualities and qualities[-1] in ("good", "bad") and "good" in qualities


async def test_report_by_change_publishes_changes_only() -> None:
    outlet = RecordingOutlet()
    spec = DeviceSpec("const", "fake", {"values": {"a": 5, "b": 7}}, (TagSpec("a", "HR0"), TagSpec("b", "HR1")),
                      interval=0.01, heartbeat=None)
    gw = Gateway(config(spec), outlet)
    await run_for(gw, 0.3)
    assert gw.runners["const"].stats.reads > 5
    assert [(s.tag, s.value) for s in outlet.samples("const")] == [("a", 5), ("b", 7)]


async def test_write_then_read_back_through_the_gateway() -> None:
    outlet = RecordingOutlet()
    gw = Gateway(config(device("w")), outlet)
    await gw.start()
    try:
        for _ in range(100):
            if gw.runners["w"].stats.state == "up":
                break
            await asyncio.sleep(0.01)
        sample = await gw.write("w", "b", 42)
        assert sample.value == 42 and sample.quality == "good"
        with pytest.raises(TagError, match="read-only"):
            await gw.write("w", "a", 1)
        with pytest.raises(TagError, match="no device"):
            await gw.write("nope", "a", 1)
    finally:
        await gw.stop()


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    b = Backoff(initial=0.5, cap=30.0)
    delays = [b.next_delay() for _ in range(12)]
    assert delays[0] <= 0.5 and max(delays) <= 30.0 and delays[-1] >= 15.0
    b.reset()
    assert b.next_delay() <= 0.5


class SlowCancelDriver(FakeDriver):
    """Group `slow` reads take long and need a moment to clean up when cancelled; group `fail` breaks."""

    async def read(self, tags: Sequence[TagSpec]) -> list[Sample]:
        if tags[0].name == "fail":
            await asyncio.sleep(0.05)
            raise DriverError("link lost")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.sleep(0.3))
            raise
        return []


async def test_stop_during_poll_cleanup_is_not_swallowed_regression() -> None:
    """A stop() that arrived while a failed device cleaned up its poll tasks used to be swallowed,
    so the device loop went on reconnecting and stop() never returned."""
    tags = (TagSpec("fail", "HR0", interval=0.05), TagSpec("slow", "HR1", interval=1.0))
    spec = DeviceSpec("dev", "fake", {}, tags, interval=1.0, heartbeat=None, options={"read_timeout": 20})
    gw = Gateway(config(spec), RecordingOutlet(), factory=SlowCancelDriver, backoff_cap=0.01)
    await gw.start()
    for _ in range(200):  # wait until the failure is being handled
        if gw.runners["dev"].stats.reads == 0 and gw.runners["dev"].stats.connects >= 1:
            await asyncio.sleep(0.1)
            break
        await asyncio.sleep(0.01)
    await asyncio.wait_for(gw.stop(), timeout=10)
    assert all(t.done() for t in gw._tasks) or not gw._tasks
