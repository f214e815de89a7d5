"""Belt scale: flow = belt load × speed, integrated into a 32-bit kg totalizer that rolls over.

The belt runs only while the site produces, with random stoppages and empty running between
loads; the feed rate wanders around a target below the high-flow limit. The totalizer counts
whole kilograms in a uint32 and wraps to 0 after 4 294 967 295 kg, as integrators do.
"""

from __future__ import annotations

from typing import Any, ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import OU, happens, lag, ramp

TOTAL_MODULUS = 1 << 32  # raw kg counts
NOMINAL_SPEED = 3.15  # m/s
MAX_FLOW = 1200.0  # t/h, end of the weighing range


class BeltScale(DeviceModel):
    profile = "belt_scale"
    max_dt = 5.0
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "flow_tph": (0.0, MAX_FLOW),
        "speed_mps": (0.0, 5.0),
        "load_kgpm": (0.0, 150.0),
    }

    def setup(self) -> None:
        rng = self.rng
        self.target = OU(rng, mean=760.0, sigma=90.0, tau=1800.0)
        self.noise = OU(rng, mean=0.0, sigma=0.02, tau=8.0)
        self.total_kg = rng.randrange(50_000_000, 900_000_000)  # a scale in service for years
        self.carry_kg = 0.0
        producing = self.producing()
        self.running = producing
        self.feeding = producing
        self.stopped_until = 0.0
        self.speed = NOMINAL_SPEED if producing else 0.0
        self.load = self.target.x / (3.6 * NOMINAL_SPEED) if producing else 0.0
        self.v.update(flow_limit_tph=1100, reset_total=False)
        self._show(self.load)

    def step(self, dt: float) -> None:
        rng, t = self.rng, self.now
        producing = self.producing()
        if not producing:
            self.running = False
        elif t >= self.stopped_until:
            if self.running and happens(rng, 0.4, dt):  # unplanned stop: a trip, a blocked chute
                self.running = False
                self.stopped_until = t + rng.uniform(300, 1500)
            else:
                self.running = True
        if self.running:
            if self.feeding and happens(rng, 1.0, dt):
                self.feeding = False  # feeder stopped: the belt runs empty for a while
            elif not self.feeding and happens(rng, 8.0, dt):
                self.feeding = True
        self.speed = ramp(self.speed, NOMINAL_SPEED if self.running else 0.0, 0.3, dt)
        target_flow = max(0.0, self.target.step(dt)) if self.feeding and self.running else 0.0
        target_load = target_flow / (3.6 * NOMINAL_SPEED) if self.speed > 0.05 else self.load
        self.load = max(0.0, lag(self.load, target_load, 20.0, dt))
        # what the load cells measure: the true load with belt-tension noise and a little tare noise
        measured = self.load
        if self.speed > 0:
            measured = max(0.0, self.load * (1.0 + self.noise.step(dt)) + rng.gauss(0, 0.15))
        flow = measured * self.speed * 3.6
        self.carry_kg += flow * 1000.0 * dt / 3600.0
        whole = int(self.carry_kg)
        self.carry_kg -= whole
        self.total_kg = (self.total_kg + whole) % TOTAL_MODULUS
        self._show(measured)

    def refresh(self) -> None:
        self._show(self.measured)

    def _show(self, load: float) -> None:
        self.measured = load
        flow = load * self.speed * 3.6
        limit = float(self.v.get("flow_limit_tph", 1100))
        self.v.update(
            flow_tph=round(flow, 2),
            total_t=self.total_kg / 1000.0,
            speed_mps=round(self.speed, 3),
            load_kgpm=round(load, 2),
            running=self.speed > 0.3,
            fault=self.sensor_failed("load_kgpm", "speed_mps", "flow_tph"),
            flow_alarm=flow > limit,
        )

    def write(self, tag: str, value: Any) -> None:
        if tag == "reset_total":
            if value:
                self.total_kg = 0
                self.carry_kg = 0.0
            self.v["reset_total"] = False  # a command bit: the integrator clears it
            self.v["total_t"] = 0.0 if value else self.v["total_t"]
            return
        super().write(tag, value)

    def preset(self, tag: str, value: Any) -> None:
        if tag == "total_t":
            self.total_kg = round(float(value) * 1000) % TOTAL_MODULUS
            self.v["total_t"] = self.total_kg / 1000.0
            return
        super().preset(tag, value)
