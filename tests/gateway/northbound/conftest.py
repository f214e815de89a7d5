"""Fixtures of the northbound tests: private brokers and VictoriaMetrics, stopped after each test."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

# the helpers live beside the tests; with --import-mode=importlib nothing adds this folder itself
sys.path.insert(0, str(Path(__file__).parent))

from nb_support import Broker, Victoria


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    made: list[Broker] = []

    def make(extra: Sequence[str] = (), start: bool = True) -> Broker:
        b = Broker(tmp_path / f"broker{len(made)}", extra)
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def broker(broker_factory: Callable[..., Broker]) -> Broker:
    return broker_factory()


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[Victoria]:
    try:
        vm = Victoria(tmp_path / "vm")
    except RuntimeError as exc:
        pytest.fail(str(exc))  # loudly: a missing server must not look like a pass
    vm.start()
    yield vm
    vm.stop()
