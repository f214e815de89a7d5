from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.drivers.s7.s7_testkit import Rig, start_rig

logging.getLogger("snap7").setLevel(logging.CRITICAL)


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = start_rig()
    try:
        yield r
    finally:
        r.plc.stop()
