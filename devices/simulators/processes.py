"""Small random processes the device models are built from; all draw from one seeded RNG.

Each is exact for any step length (no drift when a simulation runs with large ticks), which
keeps a fast-forwarded run statistically the same as a real-time one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["OU", "Pulse", "happens", "lag", "ramp"]


def lag(x: float, target: float, tau: float, dt: float) -> float:
    """First-order lag towards `target` with time constant `tau` (a motor warming, a level settling)."""
    if tau <= 0:
        return target
    return target + (x - target) * math.exp(-dt / tau)


def ramp(x: float, target: float, rate: float, dt: float) -> float:
    """Move towards `target` at no more than `rate` per second (drive ramps, belt acceleration)."""
    step = rate * dt
    if abs(target - x) <= step:
        return target
    return x + step if target > x else x - step


def happens(rng: random.Random, rate_per_hour: float, dt: float) -> bool:
    """Whether a Poisson event with `rate_per_hour` occurs within `dt` seconds."""
    if rate_per_hour <= 0:
        return False
    return rng.random() < 1.0 - math.exp(-rate_per_hour * dt / 3600.0)


class OU:
    """Ornstein-Uhlenbeck process: noise that wanders around `mean` and returns to it in ~`tau` s."""

    __slots__ = ("mean", "rng", "sigma", "tau", "x")

    def __init__(self, rng: random.Random, mean: float, sigma: float, tau: float, x0: float | None = None) -> None:
        self.rng, self.mean, self.sigma, self.tau = rng, mean, sigma, tau
        self.x = mean if x0 is None else x0

    def step(self, dt: float) -> float:
        a = math.exp(-dt / self.tau)
        self.x = self.mean + (self.x - self.mean) * a + self.sigma * math.sqrt(1 - a * a) * self.rng.gauss(0, 1)
        return self.x


@dataclass(slots=True)
class Pulse:
    """An excursion on top of a baseline: rises linearly, holds, then decays exponentially."""

    start: float
    peak: float
    rise: float
    hold: float
    decay: float  # time constant of the decay, s

    def value(self, t: float) -> float:
        u = t - self.start
        if u <= 0:
            return 0.0
        if u < self.rise:
            return self.peak * u / self.rise
        u -= self.rise
        if u < self.hold:
            return self.peak
        return self.peak * math.exp(-(u - self.hold) / self.decay)

    def over(self, t: float) -> bool:
        return t - self.start > self.rise + self.hold + 6 * self.decay
