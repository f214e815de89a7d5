"""Periods (shift, day, 旬 ten-day period, month, year) and daily windows, in Asia/Shanghai time.

Every period is half-open ``[start, end)``. A shift or window whose end is not after its start runs
past midnight and belongs to the day it starts on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from mine_ledger.errors import ValidationError
from mine_ledger.values import add_months, fmt_clock, local_date, local_midnight, parse_clock

XUN_NAMES = {"1": 1, "2": 2, "3": 3, "上": 1, "中": 2, "下": 3}


@dataclass(frozen=True)
class Window:
    """A daily time-of-day window in minutes after midnight."""

    start: int
    end: int

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def on(self, d: date) -> tuple[datetime, datetime]:
        """The instance starting on local date ``d``."""
        s = local_midnight(d) + timedelta(minutes=self.start)
        e = local_midnight(d + timedelta(days=1 if self.crosses_midnight else 0)) + timedelta(minutes=self.end)
        return s, e

    def instances(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Every instance overlapping ``[start, end)`` (a zero-length range counts as the instant)."""
        d = local_date(start) - timedelta(days=1)
        last = local_date(end)
        while d <= last:
            s, e = self.on(d)
            if (s < end and e > start) or (start == end and s <= start < e):
                yield s, e
            d += timedelta(days=1)

    def as_list(self) -> list[str]:
        return [fmt_clock(self.start), fmt_clock(self.end)]


@dataclass(frozen=True)
class Shift:
    name: str
    label: str | None
    window: Window

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "label": self.label, "start": fmt_clock(self.window.start),
                "end": fmt_clock(self.window.end)}


DEFAULT_SHIFTS: list[dict[str, str]] = [
    {"name": "night", "label": "夜班", "start": "00:00", "end": "08:00"},
    {"name": "day", "label": "早班", "start": "08:00", "end": "16:00"},
    {"name": "evening", "label": "中班", "start": "16:00", "end": "24:00"},
]


def parse_window(value: object, field: str) -> Window:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValidationError(f'{field}: expected ["HH:MM", "HH:MM"]', field=field)
    s = parse_clock(value[0], f"{field}.0")
    e = parse_clock(value[1], f"{field}.1")
    if s == 24 * 60:
        raise ValidationError(f"{field}.0: a window cannot start at 24:00", field=f"{field}.0")
    if s == e:
        raise ValidationError(f"{field}: the window is empty", field=field)
    return Window(s, e)


def parse_windows(value: object, field: str) -> list[Window]:
    """``null``, one ``[start, end]`` window, or a list of them."""
    if value is None or value == [] or value is False or value == "":
        return []
    if isinstance(value, str):  # "00:00-08:00"
        parts = value.replace("–", "-").split("-")
        if len(parts) != 2:
            raise ValidationError(f'{field}: expected ["HH:MM", "HH:MM"] or "HH:MM-HH:MM"', field=field)
        return [parse_window(parts, field)]
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return [parse_window(list(value), field)]
    if isinstance(value, list | tuple):
        return [parse_window(v, f"{field}.{i}") for i, v in enumerate(value)]
    raise ValidationError(f'{field}: expected ["HH:MM", "HH:MM"] or a list of such windows', field=field)


class ShiftTable:
    """The enterprise's shifts; they may leave gaps but must not overlap."""

    def __init__(self, shifts: Sequence[Shift]):
        self.shifts = list(shifts)
        self._by_name = {s.name: s for s in self.shifts}
        for s in self.shifts:
            if s.label:
                self._by_name.setdefault(s.label, s)

    @classmethod
    def parse(cls, value: object, field: str = "shifts") -> ShiftTable:
        if value is None:
            value = DEFAULT_SHIFTS
        items: list[tuple[str, object, object, object]] = []
        if isinstance(value, dict):
            for name, win in value.items():
                if not isinstance(win, list | tuple) or len(win) != 2:
                    raise ValidationError(f'{field}.{name}: expected ["HH:MM", "HH:MM"]', field=f"{field}.{name}")
                items.append((str(name), None, win[0], win[1]))
        elif isinstance(value, list | tuple) and value:
            for i, item in enumerate(value):
                if isinstance(item, list | tuple) and len(item) == 3:  # [name, start, end]
                    items.append((str(item[0]), None, item[1], item[2]))
                    continue
                if not isinstance(item, dict) or not item.get("name"):
                    raise ValidationError(
                        f'{field}.{i}: expected {{"name", "start", "end", "label"?}}', field=f"{field}.{i}"
                    )
                items.append((str(item["name"]), item.get("label"), item.get("start"), item.get("end")))
        else:
            raise ValidationError(f"{field}: expected a list of shifts", field=field)
        shifts: list[Shift] = []
        for i, (name, label, s, e) in enumerate(items):
            w = parse_window([s, e], f"{field}.{i}")
            if any(x.name == name for x in shifts):
                raise ValidationError(f"{field}.{i}.name: duplicate shift {name!r}", field=f"{field}.{i}.name")
            shifts.append(Shift(name, str(label) if label else None, w))
        # overlap check on a minute grid of two days (handles shifts past midnight)
        used: dict[int, str] = {}
        for sh in shifts:
            start, end = sh.window.start, sh.window.end + (24 * 60 if sh.window.crosses_midnight else 0)
            for m in range(start, end):
                key = m % (24 * 60)
                if key in used:
                    raise ValidationError(
                        f"{field}: shifts {used[key]!r} and {sh.name!r} overlap", field=field
                    )
                used[key] = sh.name
        return cls(shifts)

    def get(self, name: str) -> Shift | None:
        return self._by_name.get(name)

    def containing(self, t: datetime) -> tuple[Shift, datetime, datetime] | None:
        for sh in self.shifts:
            for s, e in sh.window.instances(t, t):
                return sh, s, e
        return None

    def instance_for(self, shift: Shift, t: datetime) -> tuple[datetime, datetime]:
        """The instance of ``shift`` that holds ``t``, else the one starting on ``t``'s date."""
        for s, e in shift.window.instances(t, t):
            return s, e
        return shift.window.on(local_date(t))

    def instances(self, start: datetime, end: datetime) -> list[tuple[Shift, datetime, datetime]]:
        out = [(sh, s, e) for sh in self.shifts for s, e in sh.window.instances(start, end) if s < end]
        out.sort(key=lambda x: x[1])
        return out

    def as_list(self) -> list[dict[str, str | None]]:
        return [s.as_dict() for s in self.shifts]


@dataclass(frozen=True)
class Period:
    label: str
    grain: str  # shift | day | xun | month | year
    start: datetime
    end: datetime


_RE_YEAR = re.compile(r"^(\d{4})$")
_RE_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_RE_XUN = re.compile(r"^(\d{4})-(\d{1,2})-([123上中下])旬$")
_RE_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_RE_SHIFT = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[/ T](.+)$")


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    d = date(year, month, 1)
    return local_midnight(d), local_midnight(add_months(d, 1))


def parse_period(text: str, shifts: ShiftTable | None = None) -> Period:
    """``2026``, ``2026-11``, ``2026-11-2旬`` (or 上/中/下旬), ``2026-11-03``, ``2026-11-03/day``."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("period: expected e.g. 2026, 2026-11, 2026-11-2旬, 2026-11-03", field="period")
    t = text.strip()
    try:
        if m := _RE_YEAR.match(t):
            y = int(m[1])
            return Period(t, "year", local_midnight(date(y, 1, 1)), local_midnight(date(y + 1, 1, 1)))
        if m := _RE_MONTH.match(t):
            s, e = month_bounds(int(m[1]), int(m[2]))
            return Period(f"{int(m[1]):04d}-{int(m[2]):02d}", "month", s, e)
        if m := _RE_XUN.match(t):
            y, mo, n = int(m[1]), int(m[2]), XUN_NAMES[m[3]]
            first = date(y, mo, 1 + 10 * (n - 1))
            s = local_midnight(first)
            e = local_midnight(date(y, mo, 1 + 10 * n)) if n < 3 else month_bounds(y, mo)[1]
            return Period(f"{y:04d}-{mo:02d}-{n}旬", "xun", s, e)
        if m := _RE_DAY.match(t):
            d = date(int(m[1]), int(m[2]), int(m[3]))
            return Period(d.isoformat(), "day", local_midnight(d), local_midnight(d + timedelta(days=1)))
        if m := _RE_SHIFT.match(t):
            d = date(int(m[1]), int(m[2]), int(m[3]))
            table = shifts or ShiftTable.parse(None)
            sh = table.get(m[4].strip())
            if sh is None:
                names = ", ".join(s.name for s in table.shifts)
                raise ValidationError(f"period: unknown shift {m[4]!r} (shifts: {names})", field="period")
            s, e = sh.window.on(d)
            return Period(f"{d.isoformat()}/{sh.name}", "shift", s, e)
    except ValueError:
        raise ValidationError(f"period: {text!r} is not a valid date", field="period") from None
    raise ValidationError(
        f"period: {text!r} is not understood (expected 2026, 2026-11, 2026-11-2旬, 2026-11-03 or 2026-11-03/day)",
        field="period",
    )


def overlap(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> timedelta:
    """Length of the overlap of two half-open ranges."""
    s, e = max(a0, b0), min(a1, b1)
    return e - s if e > s else timedelta(0)
