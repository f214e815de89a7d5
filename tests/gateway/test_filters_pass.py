"""The filter's single pass: bad samples counted on the way, rules of unknown tags unchanged."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.model import Sample, TagSpec
from gateway.filters import ChangeFilter


def test_select_counts_the_bad_samples_and_keeps_the_first_error() -> None:
    f = ChangeFilter([TagSpec("a", "HR0"), TagSpec("b", "HR1"), TagSpec("c", "HR2")], heartbeat=None)
    batch = [Sample("d", "a", 1), Sample.bad("d", "b", "timeout"), Sample.bad("d", "c", "refused")]
    assert len(f.select(batch, 0)) == 3
    assert (f.bad, f.error) == (2, "timeout")
    assert f.select(batch, 1) == []  # nothing changed: nothing published, still counted
    assert (f.bad, f.error) == (2, "timeout")
    f.select([Sample("d", "a", 2)], 2)
    assert (f.bad, f.error) == (0, None)


def test_a_tag_the_filter_was_not_built_with_gets_no_heartbeat() -> None:
    f = ChangeFilter([TagSpec("a", "HR0")], heartbeat=1.0)
    f.select([Sample("d", "x", 1), Sample("d", "a", 1)], 0)
    assert [s.tag for s in f.select([Sample("d", "x", 1), Sample("d", "a", 1)], 5.0)] == ["a"]


def test_deadband_never_hides_non_numbers_or_non_finite_values() -> None:
    f = ChangeFilter([TagSpec("t", "HR0", deadband=10)], heartbeat=None)
    f.select([Sample("d", "t", 1.0)], 0)
    assert f.select([Sample("d", "t", 2.0)], 1) == []
    assert len(f.select([Sample("d", "t", math.inf)], 2)) == 1
    assert len(f.select([Sample("d", "t", 2.0)], 3)) == 1
    assert len(f.select([Sample("d", "t", "text")], 4)) == 1
    assert len(f.select([Sample("d", "t", True)], 5)) == 1
    assert len(f.select([Sample("d", "t", 3.0)], 6)) == 1  # True -> 3.0 is not a number move


class Reference:
    """The filter's rules written plainly, one method per rule (what `select` must agree with)."""

    def __init__(self, tags: list[TagSpec], heartbeat: float | None) -> None:
        self.band = {t.name: t.deadband for t in tags}
        self.hb = {t.name: t.heartbeat if t.heartbeat is not None else heartbeat for t in tags}
        self.last: dict[str, tuple[object, str, float]] = {}

    def select(self, samples: list[Sample], now: float) -> list[Sample]:
        out = []
        for s in samples:
            prev = self.last.get(s.tag)
            if prev is None or self.changed(s, prev) or self.due(s.tag, prev[2], now):
                self.last[s.tag] = (s.value, s.quality, now)
                out.append(s)
        return out

    def changed(self, s: Sample, prev: tuple[object, str, float]) -> bool:
        value, quality, _ = prev
        if s.quality != quality:
            return True
        if s.value == value:
            return False
        band = self.band.get(s.tag)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (s.value, value))
        if band is None or not numbers:
            return True
        if not (math.isfinite(s.value) and math.isfinite(value)):  # type: ignore[arg-type]
            return True
        return abs(s.value - value) > band  # type: ignore[operator]

    def due(self, tag: str, published: float, now: float) -> bool:
        hb = self.hb.get(tag)
        return hb is not None and now - published >= hb


_values = st.one_of(st.integers(-3, 3), st.floats(-3, 3), st.sampled_from([math.nan, math.inf, "x", True, None]))
_batch = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "z"]), _values,
                            st.sampled_from(["good", "good", "uncertain", "bad"])), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_batch, st.floats(0, 3)), max_size=8), st.sampled_from([None, 2.0]))
def test_select_agrees_with_the_plain_rules(cycles: list[tuple[list[tuple[str, object, str]], float]],
                                            heartbeat: float | None) -> None:
    tags = [TagSpec("a", "HR0", deadband=1.0), TagSpec("b", "HR1", heartbeat=1.0), TagSpec("c", "HR2")]
    fast, ref = ChangeFilter(tags, heartbeat), Reference(tags, heartbeat)
    now = 0.0
    for batch, step in cycles:
        now += step
        samples = [Sample("d", t, v, q) for t, v, q in batch]  # type: ignore[arg-type]
        assert fast.select(samples, now) == ref.select(samples, now)
        assert fast.bad == sum(1 for s in samples if s.quality == "bad")
