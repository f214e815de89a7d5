"""OperationLimits: Read and CreateMonitoredItems are chunked within what the server publishes,
100 when it publishes nothing, and halved when a server refuses a batch it claimed to accept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.drivers.opcua.opcua_testkit import (
    Collector,
    PlantServer,
    device,
    opened,
    tag,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
SMALL = {"MaxNodesPerRead": 3, "MaxMonitoredItemsPerCall": 4, "MaxNodesPerBrowse": 2}
DEFAULTS = dict.fromkeys(SMALL, 10000)


@pytest_asyncio.fixture(loop_scope="session")
async def small(shared_plant: PlantServer) -> AsyncIterator[PlantServer]:
    """Publishes and enforces small limits (for the sessions opened inside the test)."""
    await shared_plant.publish_limits(**SMALL)
    shared_plant.enforce.update(SMALL)
    try:
        yield shared_plant
    finally:
        shared_plant.enforce.clear()
        await shared_plant.publish_limits(**DEFAULTS)


@pytest_asyncio.fixture(loop_scope="session")
async def silent(shared_plant: PlantServer) -> AsyncIterator[PlantServer]:
    """Publishes no OperationLimits at all."""
    shared_plant.hide_limits()
    try:
        yield shared_plant
    finally:
        shared_plant.hide_limits(False)


def bulk_tags(ps: PlantServer, n: int) -> list:
    return [tag(f"b{i}", f"ns={ps.ns};s=Bulk.{i}") for i in range(n)]


async def test_reads_are_chunked_within_max_nodes_per_read(small: PlantServer) -> None:
    drv = await opened(device(small.endpoint, []))
    try:
        assert drv.stats()["operation_limits"]["max_nodes_per_read"] == 3
        before = len(small.read_sizes)
        samples = await drv.read(bulk_tags(small, 25))
        sizes = small.read_sizes[before:]
        assert [s.value for s in samples] == [float(i) for i in range(25)]
        assert sizes == [3] * 8 + [1]
        assert [len(p.tags) for p in drv.plan(bulk_tags(small, 25))] == sizes
    finally:
        await drv.close()


async def test_monitored_items_are_created_in_batches(small: PlantServer) -> None:
    drv = await opened(device(small.endpoint, []))
    try:
        got = Collector()
        before = len(small.item_batches)
        await drv.subscribe(bulk_tags(small, 25), got)
        await wait_until(lambda: len({s.tag for s in got.samples}) == 25, what="25 initial values")
        assert small.item_batches[before:] == [4] * 6 + [1]
        stats = drv.stats()
        assert stats["monitored_items"] == 25 and stats["create_monitored_items_calls"] == 7
        assert stats["operation_limits"]["source"]["max_monitored_items_per_call"] == "server"
    finally:
        await drv.close()


async def test_browse_is_chunked_within_max_nodes_per_browse(small: PlantServer) -> None:
    drv = await opened(device(small.endpoint, []))
    try:
        found = {v["address"] for v in await drv.browse(depth=3)}
        assert {f"ns={small.ns};s=Bulk.{i}" for i in range(250)} <= found
        assert small.nodeid("Washer.Feed") in found
    finally:
        await drv.close()


async def test_a_server_that_refuses_what_it_published_gets_smaller_batches(small: PlantServer) -> None:
    await small.publish_limits(MaxNodesPerRead=50, MaxMonitoredItemsPerCall=50)
    small.enforce.update({"MaxNodesPerRead": 5, "MaxMonitoredItemsPerCall": 5})
    drv = await opened(device(small.endpoint, []))
    try:
        before_reads = len(small.read_sizes)
        samples = await drv.read(bulk_tags(small, 25))
        assert all(s.quality == "good" for s in samples) and len(samples) == 25
        accepted = [n for n in small.read_sizes[before_reads:] if n <= 5]
        assert sum(accepted) == 25
        got = Collector()
        await drv.subscribe(bulk_tags(small, 25), got)
        await wait_until(lambda: len({s.tag for s in got.samples}) == 25, what="25 initial values")
        limits = drv.stats()["operation_limits"]
        assert limits["max_nodes_per_read"] <= 5 and limits["source"]["max_nodes_per_read"] == "adapted"
        assert limits["max_monitored_items_per_call"] <= 5
        assert limits["source"]["max_monitored_items_per_call"] == "adapted"
    finally:
        await drv.close()


async def test_absent_limits_default_to_100(silent: PlantServer) -> None:
    drv = await opened(device(silent.endpoint, []))
    try:
        limits = drv.stats()["operation_limits"]
        assert limits["max_nodes_per_read"] == 100 and limits["source"]["max_nodes_per_read"] == "default"
        before = len(silent.read_sizes)
        samples = await drv.read(bulk_tags(silent, 250))
        assert len(samples) == 250 and all(s.quality == "good" for s in samples)
        assert silent.read_sizes[before:] == [100, 100, 50]
        got = Collector()
        before = len(silent.item_batches)
        await drv.subscribe(bulk_tags(silent, 250), got)
        await wait_until(lambda: len({s.tag for s in got.samples}) == 250, what="250 initial values")
        assert silent.item_batches[before:] == [100, 100, 50]
    finally:
        await drv.close()


async def test_options_can_only_lower_the_limits(shared_plant: PlantServer) -> None:
    drv = await opened(device(shared_plant.endpoint, [], options={"max_nodes_per_read": 40}))
    try:
        before = len(shared_plant.read_sizes)
        await drv.read(bulk_tags(shared_plant, 90))
        assert shared_plant.read_sizes[before:] == [40, 40, 10]
        assert drv.stats()["operation_limits"]["source"]["max_nodes_per_read"] == "option"
    finally:
        await drv.close()
    await shared_plant.publish_limits(MaxNodesPerRead=3)
    drv = await opened(device(shared_plant.endpoint, [], options={"max_nodes_per_read": 40}))
    try:
        assert drv.stats()["operation_limits"]["max_nodes_per_read"] == 3
    finally:
        await drv.close()
        await shared_plant.publish_limits(MaxNodesPerRead=10000)
