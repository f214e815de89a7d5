from __future__ import annotations

import pytest

from drivers import registry
from drivers.base import Driver
from drivers.fake import FakeDriver


def test_registered_name_finds_its_class() -> None:
    assert registry.driver_class("fake") is FakeDriver
    assert issubclass(registry.driver_class("fake"), Driver)


def test_unknown_driver_names_the_choices() -> None:
    with pytest.raises(KeyError, match=r"allowed: .*fake.*modbus"):
        registry.driver_class("profibus")
