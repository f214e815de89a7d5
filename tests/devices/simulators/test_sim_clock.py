"""Simulated clock and the production schedule."""

from __future__ import annotations

from datetime import datetime

import pytest

from devices.simulators.clock import Schedule, SimClock
from tests.devices.simulators.sim_testkit import SHANGHAI


def at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, 2, hour, minute, tzinfo=SHANGHAI).timestamp()


def test_night_ban_is_local_shanghai_time() -> None:
    s = Schedule()
    assert not s.producing(at(0)) and not s.producing(at(7, 59))
    assert s.producing(at(8)) and s.producing(at(23, 59))


def test_ban_across_midnight_and_no_ban() -> None:
    s = Schedule(night_ban=("22:00", "06:00"))
    assert not s.producing(at(23)) and not s.producing(at(5)) and s.producing(at(6)) and s.producing(at(21))
    assert Schedule(night_ban=None).producing(at(3))


def test_next_change_is_the_next_edge() -> None:
    s = Schedule()
    assert s.next_change(at(10)) == datetime(2026, 3, 3, 0, 0, tzinfo=SHANGHAI).timestamp()
    assert s.next_change(at(3)) == at(8)


def test_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        Schedule(night_ban=("midnight", "08:00"))
    with pytest.raises(Exception, match="Mars"):
        Schedule(timezone="Mars/Olympus")


def test_clock_moves_in_whole_ticks_and_carries_the_rest() -> None:
    c = SimClock(1000.0, tick=2.0)
    assert c.due(3.0) == 1
    assert c.due(1.0) == 1  # 1 s carried + 1 s
    assert c.due(0.5) == 0
    with pytest.raises(ValueError, match="allowed"):
        c.due(-1)
    with pytest.raises(ValueError):
        SimClock(0, tick=0)
