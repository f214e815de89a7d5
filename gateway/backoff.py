"""Exponential back-off with jitter, shared by device reconnects and northbound retries.

Jitter keeps many devices or sinks that failed together from retrying in step; the delay is drawn
from `[jitter × ceiling, ceiling]` where the ceiling doubles from `initial` up to `cap`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    initial: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.initial * self.factor ** self.attempt)
        self.attempt += 1
        return random.uniform(ceiling * self.jitter, ceiling)

    def reset(self) -> None:
        self.attempt = 0
