"""Self-healing: a server restart mid-subscription, a subscription gone silent, and the runtime's
own close/connect cycle all end with data flowing again and nothing duplicated."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from drivers.base import DriverError
from tests.drivers.opcua.opcua_testkit import (
    Collector,
    PlantServer,
    device,
    opened,
    start_plant,
    tag,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
FAST = {"keepalive": 0.2, "reconnect_max": 1.0}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def plant(shared_plant: PlantServer) -> PlantServer:
    return await shared_plant.section("Heal")


def items_on(ps: PlantServer) -> int:
    return sum(len(s.monitored_item_srv._monitored_items)
               for s in ps.server.iserver.subscription_service.subscriptions.values())


async def test_server_restart_mid_subscription_resumes_without_a_driver_restart() -> None:
    first = await start_plant()
    second = await start_plant(start=False)  # a fresh server for the same port: no sessions, no subscriptions
    drv = await opened(device(first.endpoint, [], interval=0.1, options=FAST))
    got = Collector()
    try:
        await drv.subscribe([tag("flow", first.nodeid("Flow")),
                             tag("level", first.nodeid("Level"), mode="poll")], got)
        await wait_until(lambda: got.of("flow") and got.of("level"), what="data before the restart")

        await first.stop()
        await wait_until(lambda: any(s.quality == "bad" for s in got.of("flow"))
                         and any(s.quality == "bad" for s in got.of("level")), what="bad samples on loss")
        lost = next(s for s in got.of("flow") if s.quality == "bad")
        assert lost.value is None and "lost" in (lost.error or "")
        with pytest.raises(DriverError):
            await drv.read([tag("flow", first.nodeid("Flow"))])
        assert drv.stats()["connected"] is False

        await second.set("Flow", 777.0)
        await second.set("Level", 31.0)
        await second.start(port=first.port)
        await wait_until(lambda: got.last("flow").value == 777.0 and got.last("level").value == 31.0,  # type: ignore[union-attr]
                         within=20.0, what="data from the restarted server")
        await second.set("Flow", 778.0)
        await wait_until(lambda: got.last("flow").value == 778.0, what="changes after the restart")  # type: ignore[union-attr]
        stats = drv.stats()
        assert stats["connected"] is True and stats["reconnects"] >= 1 and stats["last_error"] is None
        assert items_on(second) == 1  # flow re-subscribed once; level is polled
        [s] = await drv.read([tag("flow", second.nodeid("Flow"))])
        assert s.value == 778.0

        # down again, and the gateway shuts down while the driver is reconnecting: nothing is left running
        await second.stop()
        await wait_until(lambda: drv.stats()["connected"] is False, what="the second loss")
    finally:
        await drv.close()
    await asyncio.sleep(0)
    assert [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("opcua-")] == []
    if second.server.bserver is not None and second.server.bserver._server is not None:
        await second.stop()


async def test_a_silent_subscription_is_rebuilt_by_the_watchdog(plant: PlantServer) -> None:
    drv = await opened(device(plant.endpoint, [], interval=0.1, options=FAST))
    got = Collector()
    try:
        await drv.subscribe([tag("flow", plant.nodeid("Flow"))], got)
        await wait_until(lambda: got.of("flow"), what="initial value")
        service = plant.server.iserver.subscription_service
        mine = [sid for sid, sub in service.subscriptions.items() if sub.monitored_item_srv._monitored_items]
        await service.delete_subscriptions(mine)  # gone on the server, session and socket still up
        await wait_until(lambda: drv.stats()["subscription_rebuilds"] >= 1, what="the watchdog's rebuild")
        await plant.set("Flow", 55.5)
        await wait_until(lambda: got.last("flow").value == 55.5, what="data after the rebuild")  # type: ignore[union-attr]
        stats = drv.stats()
        assert stats["reconnects"] == 0 and stats["subscriptions"] == 1 and stats["monitored_items"] == 1
        # nothing changes now: the subscription stays alive on keep-alives alone
        rebuilds = stats["subscription_rebuilds"]
        await wait_until(lambda: drv.stats()["keepalives"] >= 15, what="idle keep-alives")
        assert drv.stats()["subscription_rebuilds"] == rebuilds
    finally:
        await drv.close()


async def test_runtime_close_connect_and_subscribe_again_does_not_duplicate(plant: PlantServer) -> None:
    drv = await opened(device(plant.endpoint, [], interval=0.1))
    got = Collector()
    tags = [tag("double", plant.nodeid("Double")), tag("int32", plant.nodeid("Int32"))]
    base = items_on(plant)
    try:
        await drv.subscribe(tags, got)
        await wait_until(lambda: items_on(plant) == base + 2, what="two monitored items")
        await drv.close()
        await wait_until(lambda: items_on(plant) == base, what="items gone with the session")
        await drv.connect()  # registrations survive close(): subscriptions come back by themselves
        await wait_until(lambda: items_on(plant) == base + 2, what="re-created items")
        await drv.subscribe(tags, got)  # and a runtime that subscribes again gets no duplicates
        assert items_on(plant) == base + 2
        got.clear()
        await plant.set("Double", -1.0)
        await wait_until(lambda: got.of("double"), what="change")
        await asyncio.sleep(0.3)  # let any duplicate notification arrive before counting
        assert [s.value for s in got.of("double")] == [-1.0]
    finally:
        await drv.close()
