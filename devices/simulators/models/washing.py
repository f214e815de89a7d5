"""Dense-medium coal washing plant: products split the feed by the separation density.

Clean coal yield and clean coal ash both rise with the primary medium density (the operator's
trade-off), and fall/rise with the raw coal ash. The products always add up to the feed, and
the totalizers integrate feed and clean coal. The plant starts and stops with the shifts,
ramping through `starting` and `stopping` states.
"""

from __future__ import annotations

from typing import Any, ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import OU, lag, ramp

STOPPED, STARTING, RUNNING, STOPPING = 0, 1, 2, 3
RAMP_S = 300.0


class WashingPlant(DeviceModel):
    profile = "washing_plant"
    max_dt = 5.0
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "feed_tph": (0.0, 1_500.0), "clean_tph": (0.0, 1_500.0), "middlings_tph": (0.0, 1_500.0),
        "slime_tph": (0.0, 1_500.0), "gangue_tph": (0.0, 1_500.0), "raw_ash_pct": (0.0, 60.0),
        "clean_ash_pct": (0.0, 60.0), "clean_moisture_pct": (0.0, 30.0), "clean_yield_pct": (0.0, 100.0),
        "medium_density": (1.0, 2.2), "medium_density_2": (1.0, 2.2),
    }

    def setup(self) -> None:
        rng = self.rng
        self.target = OU(rng, 520.0, 40.0, 1200.0)
        self.raw_ash = OU(rng, 28.0, 2.5, 3600.0)
        self.moisture = OU(rng, 10.2, 0.5, 2400.0)
        self.d_noise = OU(rng, 0.0, 0.003, 30.0)
        self.ash_noise = OU(rng, 0.0, 0.12, 300.0)
        producing = self.producing()
        self.state = RUNNING if producing else STOPPED
        self.feed = self.target.x if producing else 0.0
        self.density = 1.42
        self.density2 = 1.82
        self.feed_total = rng.uniform(2e6, 8e6)
        self.clean_total = self.feed_total * 0.58
        self.v["density_setpoint"] = 1.42
        self._show()

    def step(self, dt: float) -> None:
        producing = self.producing()
        if producing and self.state in (STOPPED, STOPPING):
            self.state = STARTING
        elif not producing and self.state in (RUNNING, STARTING):
            self.state = STOPPING
        for p in (self.target, self.raw_ash, self.moisture, self.d_noise, self.ash_noise):
            p.step(dt)
        goal = max(0.0, self.target.x) if self.state in (STARTING, RUNNING) else 0.0
        self.feed = ramp(self.feed, goal, 520.0 / RAMP_S, dt) if self.state != RUNNING else lag(self.feed, goal, 60, dt)
        if self.state == STARTING and abs(self.feed - goal) < 1.0:
            self.state = RUNNING
        elif self.state == STOPPING and self.feed <= 0.0:
            self.state = STOPPED
        setpoint = min(max(float(self.v["density_setpoint"]), 1.25), 1.85)
        self.density = lag(self.density, setpoint, 60.0, dt)
        self.density2 = lag(self.density2, 1.82, 60.0, dt)
        clean, *_ = self._split()
        self.feed_total += self.feed * dt / 3600.0
        self.clean_total += clean * dt / 3600.0
        self._show()

    def _split(self) -> tuple[float, float, float, float]:
        """(clean, middlings, slime, gangue) in t/h; they add up to the feed."""
        d = self.density + self.d_noise.x
        yield_ = min(0.80, max(0.30, 0.60 + 0.9 * (d - 1.42) - 0.012 * (self.raw_ash.x - 28.0)))
        middlings = min(0.25, max(0.05, 0.12 + 0.5 * (self.density2 - 1.82)))
        slime = 0.07
        gangue = max(0.0, 1.0 - yield_ - middlings - slime)
        f = self.feed
        return f * yield_, f * middlings, f * slime, f * gangue

    def _show(self) -> None:
        clean, middlings, slime, gangue = self._split()
        d = self.density + self.d_noise.x
        running = self.state in (STARTING, RUNNING, STOPPING) and self.feed > 0.5
        self.v.update(
            feed_tph=round(self.feed, 2), clean_tph=round(clean, 2), middlings_tph=round(middlings, 2),
            slime_tph=round(slime, 2), gangue_tph=round(gangue, 2),
            raw_ash_pct=round(self.raw_ash.x, 2),
            clean_ash_pct=round(9.8 + 16.0 * (d - 1.42) + 0.12 * (self.raw_ash.x - 28.0) + self.ash_noise.x, 2),
            clean_moisture_pct=round(self.moisture.x, 2),
            clean_yield_pct=round(100.0 * clean / self.feed, 2) if self.feed > 0.5 else 0.0,
            medium_density=round(d, 4), medium_density_2=round(self.density2 + self.d_noise.x * 0.5, 4),
            running=running, plant_state=int(self.state),
            feed_total_t=round(self.feed_total, 3), clean_total_t=round(self.clean_total, 3),
        )

    def write(self, tag: str, value: Any) -> None:
        super().write(tag, float(value) if tag == "density_setpoint" else value)
