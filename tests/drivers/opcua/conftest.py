"""One asyncua server shared by the OPC UA test modules (each takes its own section of it):
starting a server costs seconds of CPU, a section milliseconds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.drivers.opcua.opcua_testkit import PlantServer, start_plant


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_plant() -> AsyncIterator[PlantServer]:
    """asyncua's own OperationLimits (10000) and 250 `Bulk.<n>` variables."""
    ps = await start_plant(bulk=250)
    try:
        yield ps
    finally:
        await ps.stop()
