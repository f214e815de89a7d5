"""Fixtures for the Modbus driver tests: servers and drivers that are always cleaned up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.drivers.modbus.modbus_testkit import Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    lab = Lab()
    try:
        yield lab
    finally:
        await lab.close()
