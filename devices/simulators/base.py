"""The physical side of a simulated device, independent of the protocol that serves it.

A model keeps one engineering value per profile tag in `v`, advanced by `step(dt)`. Servers only
encode `v`; faults are applied between the two (`devices.simulators.faults`), so every model gets
stuck, out-of-range and failed sensors for free.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from devices.model import TagSpec
from devices.simulators.clock import Schedule, SimClock

__all__ = ["DeviceModel"]


class DeviceModel:
    """Base of the per-profile models.

    Subclasses set `profile`, `ranges` (measuring range per numeric tag: what a sensor can show,
    used for out-of-range faults) and implement `setup` and `step`. Writes from clients arrive in
    `write`; the default stores the value so that a setpoint reads back.
    """

    profile: ClassVar[str] = ""
    max_dt: ClassVar[float] = 5.0
    """Longest step the physics is accurate for; longer ticks are split."""
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {}

    def __init__(self, rng: random.Random, clock: SimClock, schedule: Schedule, tags: Sequence[TagSpec]) -> None:
        self.rng = rng
        self.clock = clock
        self.schedule = schedule
        self.tags = {t.name: t for t in tags}
        self.t = clock.t
        """Model time: follows the clock, and moves within a tick when a long tick is split."""
        self.v: dict[str, Any] = {}
        self.faults: dict[str, str] = {}
        """Per-tag faults in force (tag -> kind), kept by the simulator; models may self-diagnose."""
        self.setup()
        missing = [name for name in self.tags if name not in self.v]
        if missing:
            raise RuntimeError(f"model {type(self).__name__} sets no value for {', '.join(missing)}")

    # -- to implement ----------------------------------------------------------------------
    def setup(self) -> None:
        """Fill `v` with a state consistent with the clock (a mid-shift start is mid-production)."""
        raise NotImplementedError

    def step(self, dt: float) -> None:
        """Advance the physics by `dt` seconds (never more than `max_dt`)."""
        raise NotImplementedError

    # -- shared behaviour ------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.t

    def producing(self, t: float | None = None) -> bool:
        return self.schedule.producing(self.now if t is None else t)

    def advance(self, dt: float) -> None:
        end = self.t + dt
        while end - self.t > 1e-9:
            chunk = min(end - self.t, self.max_dt)
            self.t += chunk
            self.step(chunk)
        self.t = end

    def refresh(self) -> None:
        """Recompute the shown values from the current state without advancing time or drawing
        random numbers (a fault was switched: the device's own fault flags follow at once)."""

    def write(self, tag: str, value: Any) -> None:
        """A client wrote `tag`; the default keeps it (setpoints, modes)."""
        self.v[tag] = value

    def preset(self, tag: str, value: Any) -> None:
        """Force a state from outside (tests, demos): e.g. a totalizer just below its maximum."""
        if tag not in self.tags:
            raise KeyError(f"profile {self.profile} has no tag {tag!r} (have: {', '.join(self.tags)})")
        self.v[tag] = value

    def sensor_failed(self, *tags: str) -> bool:
        """Whether any of `tags` has a fault a device would notice (out of range, failed)."""
        return any(self.faults.get(t) in ("out_of_range", "failed") for t in tags)
