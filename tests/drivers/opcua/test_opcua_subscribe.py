"""Subscriptions and polling: changes arrive as batches, deadband is filtered by the server,
intervals get their own subscription, `mode: poll` reads, re-subscribing never duplicates."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from asyncua import ua

from devices.model import Access, Sample
from drivers.opcua import OpcUaDriver
from tests.drivers.opcua.opcua_testkit import (
    Collector,
    PlantServer,
    device,
    opened,
    tag,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def plant(shared_plant: PlantServer) -> PlantServer:
    return await shared_plant.section("Sub")


@pytest_asyncio.fixture(loop_scope="session")
async def drv(plant: PlantServer) -> AsyncIterator[OpcUaDriver]:
    d = await opened(device(plant.endpoint, [], interval=0.05))
    try:
        yield d
    finally:
        await d.close()


def monitored_items(plant: PlantServer) -> int:
    subs = plant.server.iserver.subscription_service.subscriptions.values()
    return sum(len(s.monitored_item_srv._monitored_items) for s in subs)


async def test_changes_arrive_in_order_as_batches(plant: PlantServer, drv: OpcUaDriver) -> None:
    got = Collector()
    await plant.set("Flow", 100.0)
    await drv.subscribe([tag("flow", plant.nodeid("Flow"))], got)
    await wait_until(lambda: got.of("flow"), what="initial value")
    for v in (101.0, 102.0, 103.0):
        await plant.set("Flow", v)
        await wait_until(lambda v=v: got.last("flow").value == v, what=f"flow {v}")  # type: ignore[union-attr]
    assert [s.value for s in got.of("flow")] == [100.0, 101.0, 102.0, 103.0]
    assert all(s.device == "washer" and s.quality == "good" for s in got.samples)
    assert drv.stats()["notifications"] >= 4


async def test_deadband_is_filtered_by_the_server_in_raw_units(plant: PlantServer, drv: OpcUaDriver) -> None:
    await plant.set("Level", 10.0)
    await plant.set("Int32", 100)
    got = Collector()
    await drv.subscribe([tag("level", plant.nodeid("Level"), deadband=1.0),
                         tag("scaled", plant.nodeid("Int32"), scale=10.0, deadband=50.0),
                         tag("name", plant.nodeid("Name"), deadband=1.0)], got)
    await wait_until(lambda: len({s.tag for s in got.samples}) == 3, what="initial values")
    for v in (10.4, 10.8):
        await plant.set("Level", v)
    await plant.set("Int32", 103)       # 30 engineering units: inside the deadband of 50
    await plant.set("Name", "washer")   # text: no deadband filter, every change comes
    await plant.set("Level", 12.5)      # beyond the deadband
    await plant.set("Int32", 110)       # 100 engineering units from 1000
    await wait_until(lambda: got.last("level").value == 12.5 and got.last("scaled").value == 1100.0  # type: ignore[union-attr]
                     and got.last("name").value == "washer", what="changes beyond the deadband")  # type: ignore[union-attr]
    assert [s.value for s in got.of("level")] == [10.0, 12.5]
    assert [s.value for s in got.of("scaled")] == [1000.0, 1100.0]
    assert [s.value for s in got.of("name")][-1] == "washer"


async def test_each_interval_gets_its_own_subscription(plant: PlantServer, drv: OpcUaDriver) -> None:
    before = len(plant.client_subscriptions())
    got = Collector()
    await drv.subscribe([tag("fast", plant.nodeid("Double"), interval=0.05),
                         tag("slow", plant.nodeid("Float"), interval=0.2),
                         tag("slow2", plant.nodeid("UInt16"), interval=0.2)], got)
    await wait_until(lambda: len({s.tag for s in got.samples}) == 3, what="all three")
    assert len(plant.client_subscriptions()) - before == 2


async def test_poll_mode_reads_every_interval_without_monitored_items(plant: PlantServer, drv: OpcUaDriver) -> None:
    items_before = monitored_items(plant)
    reads_before = len(plant.read_sizes)
    got = Collector()
    await plant.set("Byte", 7)
    await drv.subscribe([tag("polled", plant.nodeid("Byte"), mode="poll", interval=0.05),
                         tag("polled2", plant.nodeid("SByte"), mode="poll", interval=0.05)], got)
    await wait_until(lambda: len(got.of("polled")) >= 3, what="three poll cycles")
    assert monitored_items(plant) == items_before
    assert len(plant.read_sizes) - reads_before >= 3
    assert 2 in plant.read_sizes[reads_before:]  # both tags in one Read request
    assert all(len(b) == 2 for b in got.batches)
    await plant.set("Byte", 8)
    await wait_until(lambda: got.last("polled").value == 8, what="polled change")  # type: ignore[union-attr]
    assert drv.stats()["polled_tags"] >= 2


async def test_subscribing_again_replaces_instead_of_duplicating(plant: PlantServer, drv: OpcUaDriver) -> None:
    first, second = Collector(), Collector()
    tags = [tag("uint32", plant.nodeid("UInt32"))]
    await drv.subscribe(tags, first)
    await wait_until(lambda: first.of("uint32"), what="first subscription")
    items = monitored_items(plant)
    await drv.subscribe(tags, second)
    await wait_until(lambda: second.of("uint32"), what="second subscription")
    assert monitored_items(plant) == items
    first.clear()
    second.clear()
    await plant.set("UInt32", 77)
    await wait_until(lambda: second.of("uint32"), what="change")
    await plant.set("UInt32", 78)
    await wait_until(lambda: second.last("uint32").value == 78, what="second change")  # type: ignore[union-attr]
    assert [s.value for s in second.of("uint32")] == [77, 78]
    assert first.samples == []


async def test_switching_a_tag_from_subscribe_to_poll(plant: PlantServer, drv: OpcUaDriver) -> None:
    got = Collector()
    await drv.subscribe([tag("int16", plant.nodeid("Int16"))], got)
    await wait_until(lambda: got.of("int16"), what="subscribed")
    items = monitored_items(plant)
    await drv.subscribe([tag("int16", plant.nodeid("Int16"), mode="poll", interval=0.05)], got)
    assert monitored_items(plant) == items - 1
    got.clear()
    await wait_until(lambda: len(got.of("int16")) >= 2, what="polled")


async def test_a_failing_callback_does_not_stop_delivery(plant: PlantServer, drv: OpcUaDriver) -> None:
    seen: list[Sample] = []

    def fragile(samples: list[Sample]) -> None:
        seen.extend(samples)
        if len(seen) == 1:
            raise RuntimeError("consumer bug")

    await drv.subscribe([tag("uint64", plant.nodeid("UInt64"))], fragile)
    await wait_until(lambda: len(seen) == 1, what="first batch")
    await plant.set("UInt64", 5)
    await wait_until(lambda: seen[-1].value == 5, what="delivery after the failure")


async def test_write_only_tags_are_not_subscribed(plant: PlantServer, drv: OpcUaDriver) -> None:
    got = Collector()
    items = monitored_items(plant)
    await drv.subscribe([tag("cmd", plant.nodeid("Bool"), access=Access.WRITE)], got)
    assert monitored_items(plant) == items
    assert got.samples == []


async def test_a_server_refusing_subscriptions_gives_bad_samples_then_recovers(
        plant: PlantServer, drv: OpcUaDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    from asyncua.common.utils import ServiceError

    from drivers.opcua import subscriptions

    monkeypatch.setattr(subscriptions, "RETRY_FAILED_AFTER", 0.2)
    service = plant.server.iserver.subscription_service
    original = service.create_subscription

    async def refuse(*args: object, **kwargs: object) -> object:
        raise ServiceError(ua.StatusCodes.BadTooManySubscriptions)

    monkeypatch.setattr(service, "create_subscription", refuse)
    got = Collector()
    await drv.subscribe([tag("flow", plant.nodeid("Flow")), tag("missing", f"ns={plant.ns};s=Sub.Later")], got)
    await wait_until(lambda: got.of("flow"), what="a sample despite the refusal")
    refused = got.last("flow")
    assert refused is not None and refused.quality == "bad" and "BadTooManySubscriptions" in (refused.error or "")
    [read] = await drv.read([tag("flow", plant.nodeid("Flow"))])  # the session itself is fine
    assert read.quality == "good"
    monkeypatch.setattr(service, "create_subscription", original)
    await wait_until(lambda: got.last("flow").quality == "good", what="the retried subscription")  # type: ignore[union-attr]
    # a node that appears later on the server is picked up by the same retry
    assert got.last("missing").quality == "bad"  # type: ignore[union-attr]
    section = plant.server.get_node(ua.NodeId("Sub", plant.ns))
    await section.add_variable(ua.NodeId("Sub.Later", plant.ns), "Later", 4.5)
    await wait_until(lambda: got.last("missing").value == 4.5, what="the node added later")  # type: ignore[union-attr]
    assert drv.stats()["failed_items"] == 0
