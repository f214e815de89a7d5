from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from platform_api.alarms.engine import Rule, State, step, tick


def methane(delay: float = 0.0, clear: float | None = None) -> Rule:
    return Rule(1, "E1", "gas", "ch4", "methane_high", "critical", above=1.0, clear=clear, delay=delay)


def feed(rule: Rule, values: list[tuple[int, float]]) -> list[str]:
    s = State()
    return [e.kind for ts, v in values for e in step(rule, s, v, ts) if e.kind != "peak"]


def test_methane_alarms_at_one_percent_and_clears_below() -> None:
    assert feed(methane(), [(1, 0.9), (2, 1.0), (3, 1.2), (4, 1.0), (5, 0.99)]) == ["raise", "clear"]


def test_hysteresis_keeps_alarm_until_clear_level() -> None:
    r = methane(clear=0.8)
    assert feed(r, [(1, 1.1), (2, 0.9), (3, 0.85), (4, 1.05), (5, 0.79)]) == ["raise", "clear"]


def test_delay_needs_the_condition_to_hold() -> None:
    r = methane(delay=10)
    # above for 5 s, then below: nothing; then above for 10 s: raised at the 10 s mark
    seq = [(0, 1.2), (5_000, 1.3), (6_000, 0.5), (7_000, 1.1), (12_000, 1.1), (17_000, 1.2)]
    s = State()
    events = [(ts, e.kind, e.since_ms) for ts, v in seq for e in step(r, s, v, ts)]
    assert events == [(17_000, "raise", 7_000)]


def test_tick_raises_when_no_new_sample_arrives() -> None:
    r = methane(delay=30)
    s = State()
    assert step(r, s, 1.4, 1_000) == []
    assert tick(r, s, 20_000) == []
    ev = tick(r, s, 31_000)
    assert [e.kind for e in ev] == ["raise"] and ev[0].value == 1.4 and ev[0].since_ms == 1_000
    assert tick(r, s, 40_000) == []


def test_late_sample_is_ignored() -> None:
    r = methane()
    s = State()
    step(r, s, 1.5, 10_000)
    assert step(r, s, 0.1, 9_000) == []
    assert s.active


def test_low_alarm() -> None:
    r = Rule(2, "E1", "fan", "airflow", "low", below=5.0, clear=6.0)
    assert feed(r, [(1, 7.0), (2, 5.0), (3, 5.5), (4, 6.0), (5, 6.1)]) == ["raise", "clear"]


@given(st.lists(st.floats(min_value=0, max_value=3, allow_nan=False), max_size=60),
       st.floats(min_value=0.1, max_value=1.0))
def test_active_exactly_when_history_says_so(values: list[float], clear: float) -> None:
    """Model check: after each sample the alarm is active iff the last trigger is not followed by
    a value below the clear level."""
    r = methane(clear=clear)
    s = State()
    expected = False
    for i, v in enumerate(values):
        step(r, s, v, i + 1)
        if not expected and v >= 1.0:
            expected = True
        elif expected and v < clear:
            expected = False
        assert s.active == expected
