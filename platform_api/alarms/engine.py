"""Threshold alarms with hysteresis and delay, as a pure state machine (no database).

A rule triggers at `value >= above` (or `value <= below`); it must keep triggering for `delay`
seconds before an alarm is raised; a raised alarm clears only once the value is past `clear`
(`value < clear` for a high alarm, `value > clear` for a low one), which defaults to the trigger
level: methane `above 1.0` alarms at 1.0 % and clears below 1.0 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SEVERITIES = ("info", "warning", "major", "critical")


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    enterprise: str
    device: str
    tag: str
    name: str
    severity: str = "warning"
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    delay: float = 0.0

    def check(self) -> None:
        """Raise ValueError naming the field when the rule cannot work."""
        if self.above is None and self.below is None:
            raise ValueError("above: a rule needs `above` or `below` (a trigger level)")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity: {self.severity!r} (allowed: {', '.join(SEVERITIES)})")
        if self.delay < 0:
            raise ValueError("delay: must not be negative (seconds)")
        if self.clear is not None:
            if self.above is not None and self.below is not None:
                raise ValueError("clear: only with one of `above` or `below`, not both")
            if self.above is not None and self.clear > self.above:
                raise ValueError(f"clear: {self.clear} is above the trigger {self.above} (allowed: <= above)")
            if self.below is not None and self.clear < self.below:
                raise ValueError(f"clear: {self.clear} is below the trigger {self.below} (allowed: >= below)")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError("below: must be lower than `above` when both are given")

    def triggered(self, v: float) -> bool:
        return (self.above is not None and v >= self.above) or (self.below is not None and v <= self.below)

    def cleared(self, v: float) -> bool:
        if self.above is not None and self.below is not None:
            return self.below < v < self.above
        if self.above is not None:
            return v < (self.above if self.clear is None else self.clear)
        assert self.below is not None
        return v > (self.below if self.clear is None else self.clear)

    @property
    def condition(self) -> str:
        parts = []
        if self.above is not None:
            parts.append(f">= {self.above:g}")
        if self.below is not None:
            parts.append(f"<= {self.below:g}")
        return " or ".join(parts)

    def worse(self, a: float, b: float) -> float:
        """The more extreme of two values in the alarm's direction (the alarm's peak)."""
        if self.above is not None and (self.below is None or a >= self.above or b >= self.above):
            return max(a, b)
        return min(a, b)


@dataclass(slots=True)
class State:
    pending_ms: int | None = None
    last_ms: int | None = None
    last_value: float | None = None
    active: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    kind: Literal["raise", "clear", "peak"]
    ts_ms: int
    value: float
    since_ms: int = 0


def step(rule: Rule, state: State, value: float, ts_ms: int) -> list[Event]:
    """Feed one sample; samples not newer than the last one seen are ignored (late redelivery)."""
    if state.last_ms is not None and ts_ms <= state.last_ms:
        return []
    state.last_ms, state.last_value = ts_ms, value
    if state.active:
        if rule.cleared(value):
            state.active, state.pending_ms = False, None
            return [Event("clear", ts_ms, value)]
        return [Event("peak", ts_ms, value)]
    if not rule.triggered(value):
        state.pending_ms = None
        return []
    if state.pending_ms is None:
        state.pending_ms = ts_ms
    return _maybe_raise(rule, state, ts_ms, value)


def tick(rule: Rule, state: State, now_ms: int) -> list[Event]:
    """Raise a pending alarm whose delay has run out with no newer sample (a gateway with a
    deadband publishes nothing while the value stands still above the level)."""
    if state.active or state.pending_ms is None or state.last_value is None:
        return []
    return _maybe_raise(rule, state, now_ms, state.last_value)


def _maybe_raise(rule: Rule, state: State, ts_ms: int, value: float) -> list[Event]:
    assert state.pending_ms is not None
    if ts_ms - state.pending_ms >= rule.delay * 1000:
        since = state.pending_ms
        state.active, state.pending_ms = True, None
        return [Event("raise", ts_ms, value, since)]
    return []
