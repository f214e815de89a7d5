from __future__ import annotations

from devices.model import Sample, TagSpec
from gateway.filters import ChangeFilter


def s(tag: str, value: object, quality: str = "good") -> Sample:
    return Sample("d", tag, value, quality)  # type: ignore[arg-type]


def test_deadband_suppresses_small_moves_but_not_large_ones() -> None:
    f = ChangeFilter([TagSpec("t", "HR0", deadband=0.5)], heartbeat=None)
    assert len(f.select([s("t", 10.0)], 0)) == 1
    assert f.select([s("t", 10.4)], 1) == []
    assert len(f.select([s("t", 10.6)], 2)) == 1  # moved 0.6 from the last *published* value


def test_heartbeat_republishes_unchanged_values() -> None:
    f = ChangeFilter([TagSpec("t", "HR0"), TagSpec("u", "HR1", heartbeat=1.0)], heartbeat=10.0)
    f.select([s("t", 1), s("u", 1)], 0)
    assert [x.tag for x in f.select([s("t", 1), s("u", 1)], 1.0)] == ["u"]
    assert [x.tag for x in f.select([s("t", 1), s("u", 1)], 1.5)] == []
    assert [x.tag for x in f.select([s("t", 1), s("u", 1)], 10.0)] == ["t", "u"]


def test_quality_change_is_always_published() -> None:
    f = ChangeFilter([TagSpec("t", "HR0", deadband=100)], heartbeat=None)
    f.select([s("t", 1)], 0)
    bad = Sample.bad("d", "t", "timeout")
    assert f.select([bad], 1) == [bad]
    assert f.select([Sample.bad("d", "t", "timeout")], 2) == []
    assert len(f.select([s("t", 1)], 3)) == 1


def test_forget_sends_everything_again() -> None:
    f = ChangeFilter([TagSpec("t", "HR0")], heartbeat=None)
    f.select([s("t", 1)], 0)
    f.forget()
    assert len(f.select([s("t", 1)], 1)) == 1
