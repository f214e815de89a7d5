"""Helpers for the simulator tests: models without servers, fixed start times."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from devices.profiles.spec import load_spec
from devices.simulators.base import DeviceModel
from devices.simulators.clock import Schedule, SimClock
from devices.simulators.models import MODELS

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_SHIFT = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday, mid-morning: production
NIGHT = datetime(2026, 3, 2, 2, 0, tzinfo=SHANGHAI)  # inside the 00:00-08:00 night ban


def make_model(profile: str, start: datetime = DAY_SHIFT, seed: int | str = 1,
               night_ban: tuple[str, str] | None = ("00:00", "08:00")) -> DeviceModel:
    """A device model without any server: the physics alone, advanced with `model.advance(s)`."""
    spec = load_spec(profile)
    clock = SimClock(start.timestamp(), 1.0)
    rng = random.Random(f"{seed}/{profile}")
    return MODELS[profile](rng, clock, Schedule("Asia/Shanghai", night_ban), spec.tags)


def sample(model: DeviceModel, seconds: float, every: float) -> list[dict]:
    """Advance `model` by `seconds`, recording its values every `every` seconds."""
    out = []
    steps = int(seconds / every)
    for _ in range(steps):
        model.advance(every)
        out.append(dict(model.v))
    return out
