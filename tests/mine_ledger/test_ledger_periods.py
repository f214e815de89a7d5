from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mine_ledger.errors import ValidationError
from mine_ledger.periods import ShiftTable, parse_period, parse_windows
from mine_ledger.store import plan
from mine_ledger.values import TZ, day_start, month_start


def t(*a: int) -> datetime:
    return datetime(*a, tzinfo=TZ)


@pytest.mark.parametrize(
    ("text", "grain", "start", "end"),
    [
        ("2026", "year", t(2026, 1, 1), t(2027, 1, 1)),
        ("2026-11", "month", t(2026, 11, 1), t(2026, 12, 1)),
        ("2026-02-3旬", "xun", t(2026, 2, 21), t(2026, 3, 1)),
        ("2026-11-2旬", "xun", t(2026, 11, 11), t(2026, 11, 21)),
        ("2026-11-上旬", "xun", t(2026, 11, 1), t(2026, 11, 11)),
        ("2026-11-03", "day", t(2026, 11, 3), t(2026, 11, 4)),
        ("2026-11-03/day", "shift", t(2026, 11, 3, 8), t(2026, 11, 3, 16)),
        ("2026-11-03/中班", "shift", t(2026, 11, 3, 16), t(2026, 11, 4)),
    ],
)
def test_periods_are_half_open_in_shanghai(text: str, grain: str, start: datetime, end: datetime) -> None:
    p = parse_period(text)
    assert (p.grain, p.start, p.end) == (grain, start, end)


@pytest.mark.parametrize("bad", ["2026-13", "2026-11-4旬", "Nov 2026", "2026-11-03/lunch", ""])
def test_bad_periods(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_period(bad)


def test_shift_past_midnight_belongs_to_its_start_day() -> None:
    table = ShiftTable.parse([{"name": "a", "start": "06:00", "end": "14:00"},
                              {"name": "b", "start": "14:00", "end": "22:00"},
                              {"name": "c", "start": "22:00", "end": "06:00"}])
    sh, s, e = table.containing(t(2026, 11, 4, 3)) or (None, None, None)
    assert sh is not None and sh.name == "c"
    assert (s, e) == (t(2026, 11, 3, 22), t(2026, 11, 4, 6))
    assert parse_period("2026-11-03/c", table).end == t(2026, 11, 4, 6)


def test_overlapping_shifts_are_refused() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        ShiftTable.parse([{"name": "a", "start": "00:00", "end": "09:00"},
                          {"name": "b", "start": "08:00", "end": "16:00"}])


def test_windows_instances() -> None:
    [w] = parse_windows(["22:00", "06:00"], "night_ban")
    got = list(w.instances(t(2026, 11, 3, 12), t(2026, 11, 4, 12)))
    assert got == [(t(2026, 11, 3, 22), t(2026, 11, 4, 6))]
    assert parse_windows(None, "night_ban") == []
    assert len(parse_windows([["00:00", "06:00"], ["12:00", "13:00"]], "night_ban")) == 2


stamps = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=TZ, microsecond=0)
)


@given(stamps, stamps, st.booleans(), st.booleans())
def test_plan_tiles_the_range_exactly(a: datetime, b: datetime, open_start: bool, open_end: bool) -> None:
    start, end = (min(a, b), max(a, b))
    lo = None if open_start else start
    hi = None if open_end else end
    pieces = plan(lo, hi)
    # pieces are contiguous, cover [lo, hi) and aggregates are whole days / months
    cursor = lo
    for src, s, e in pieces:
        assert s == cursor
        if src == "D":
            assert s is not None and e is not None and day_start(s) == s and day_start(e) == e
        if src == "M":
            assert (s is None or month_start(s) == s) and (e is None or month_start(e) == e)
        if src == "R":
            assert s is not None and e is not None and e - s <= timedelta(days=1)
        cursor = e
    assert cursor == hi or (not pieces and lo is not None and hi is not None and lo >= hi)
