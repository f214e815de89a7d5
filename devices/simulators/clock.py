"""Simulated time and the working schedule the simulated site follows.

The clock advances only in whole ticks, so what a simulator shows is a pure function of its seed,
start time and number of ticks: `step(10)` and ten `step(1)` give the same values, and a run at
60× real time reproduces one stepped by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Schedule", "SimClock"]


class SimClock:
    """Simulated UTC epoch seconds, advanced by whole ticks of `tick` seconds."""

    def __init__(self, start: float, tick: float = 1.0) -> None:
        if not (tick > 0 and math.isfinite(tick)):
            raise ValueError(f"tick must be a positive number of seconds, got {tick!r}")
        self.start = float(start)
        self.tick = float(tick)
        self.ticks = 0
        self._carry = 0.0

    @property
    def t(self) -> float:
        return self.start + self.ticks * self.tick

    @property
    def elapsed(self) -> float:
        return self.ticks * self.tick

    def due(self, seconds: float) -> int:
        """Add `seconds` to the carry and return how many whole ticks are now due."""
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"cannot step by {seconds!r} seconds (allowed: a finite number >= 0)")
        self._carry += seconds
        n = int(self._carry / self.tick + 1e-9)
        self._carry = max(0.0, self._carry - n * self.tick)
        return n

    def datetime(self, tz: ZoneInfo) -> datetime:
        return datetime.fromtimestamp(self.t, tz)


def _minutes(text: str) -> int:
    try:
        hh, mm = str(text).split(":")
        value = int(hh) * 60 + int(mm)
    except ValueError:
        raise ValueError(f"bad time of day {text!r} (allowed: HH:MM, e.g. 08:00)") from None
    if not 0 <= value <= 24 * 60:
        raise ValueError(f"bad time of day {text!r} (allowed: 00:00-24:00)")
    return value


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the simulated site produces: everything except the night ban (local time).

    Wuhai mines stopped night shifts in 2020: by default nothing is mined 00:00-08:00
    Asia/Shanghai. `night_ban=None` produces around the clock.
    """

    timezone: str = "Asia/Shanghai"
    night_ban: tuple[str, str] | None = ("00:00", "08:00")

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # unknown zones fail here, not on the first tick
        if self.night_ban is not None:
            if len(self.night_ban) != 2:
                raise ValueError(f"night_ban must be (from, to), got {self.night_ban!r}")
            _minutes(self.night_ban[0])
            _minutes(self.night_ban[1])

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    def producing(self, t: float) -> bool:
        if self.night_ban is None:
            return True
        a, b = _minutes(self.night_ban[0]), _minutes(self.night_ban[1])
        if a == b:
            return True
        local = self.local(t)
        m = local.hour * 60 + local.minute
        banned = a <= m < b if a < b else (m >= a or m < b)
        return not banned

    def hour_of_day(self, t: float) -> float:
        local = self.local(t)
        return local.hour + local.minute / 60 + local.second / 3600

    def day_start(self, t: float) -> float:
        """Epoch of local midnight of the day holding `t`."""
        local = self.local(t)
        midnight = datetime.combine(local.date(), time(0), tzinfo=self.tz)
        return midnight.timestamp()

    def next_change(self, t: float) -> float:
        """Epoch of the next start or end of production after `t` (a day ahead when none)."""
        if self.night_ban is None:
            return t + 86400.0
        base = datetime.fromtimestamp(self.day_start(t), self.tz)
        candidates = []
        for day in (0, 1):
            for edge in self.night_ban:
                m = _minutes(edge)
                candidates.append((base + timedelta(days=day, minutes=m)).timestamp())
        later = [c for c in candidates if c > t]
        return min(later) if later else t + 86400.0
