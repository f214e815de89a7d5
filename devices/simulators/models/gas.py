"""Gas sensors: a wandering baseline with occasional excursions, and the sensor's own alarm outputs.

Methane rises while coal is cut (gas released from the face) and now and then spikes past the
alarm and power-off points; CO rises after blasting and decays over tens of minutes. Alarm and
power-off outputs latch at their setpoints and release below the restore point, as AQ 6201
sensors do. `trigger_excursion` forces an excursion for demos and tests.
"""

from __future__ import annotations

from typing import Any, ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import OU, Pulse, happens


class GasSensor(DeviceModel):
    """Shared behaviour; subclasses set the tag, range, resolution and event statistics."""

    value_tag: ClassVar[str] = ""
    full_scale: ClassVar[float] = 1.0
    resolution: ClassVar[float] = 1.0
    base_producing: ClassVar[tuple[float, float, float]] = (0.0, 0.0, 600.0)  # mean, sigma, tau
    base_idle: ClassVar[tuple[float, float, float]] = (0.0, 0.0, 600.0)
    events_per_hour: ClassVar[float] = 0.0
    max_dt = 5.0

    def setup(self) -> None:
        mean, sigma, tau = self.base_producing if self.producing() else self.base_idle
        self.base = OU(self.rng, mean, sigma, tau)
        self.pulses: list[Pulse] = []
        self.alarm = False
        self.power_off = False
        self.defaults()
        self._show()

    def defaults(self) -> None:
        raise NotImplementedError

    def new_pulse(self) -> Pulse:
        raise NotImplementedError

    def trigger_excursion(self, peak: float, rise: float = 60.0, hold: float = 120.0, decay: float = 300.0) -> None:
        """Start an excursion of `peak` above the baseline now (reaches it after `rise` seconds)."""
        self.pulses.append(Pulse(self.now, peak, rise, hold, decay))

    def step(self, dt: float) -> None:
        mean, sigma, tau = self.base_producing if self.producing() else self.base_idle
        self.base.mean, self.base.sigma, self.base.tau = mean, sigma, tau
        self.base.step(dt)
        if self.producing() and happens(self.rng, self.events_per_hour, dt):
            self.pulses.append(self.new_pulse())
        self.pulses = [p for p in self.pulses if not p.over(self.now)]
        self._show()

    def refresh(self) -> None:
        self._show()

    def reading(self) -> float:
        raw = self.base.x + sum(p.value(self.now) for p in self.pulses)
        value = min(max(raw, 0.0), self.full_scale)
        return round(value / self.resolution) * self.resolution

    def _show(self) -> None:
        self.v[self.value_tag] = self.reading()
        self.latch(self.v[self.value_tag])
        self.v["fault"] = self.sensor_failed(self.value_tag)

    def latch(self, value: float) -> None:
        raise NotImplementedError


class MethaneSensor(GasSensor):
    profile = "methane_sensor"
    value_tag = "ch4_pct"
    full_scale = 4.0
    resolution = 0.01
    base_producing = (0.22, 0.06, 900.0)
    base_idle = (0.08, 0.02, 1800.0)
    events_per_hour = 0.12
    ranges: ClassVar[dict[str, tuple[float, float]]] = {"ch4_pct": (0.0, 4.0)}

    def defaults(self) -> None:
        self.v.update(alarm_setpoint_pct=1.0, power_off_setpoint_pct=1.5, restore_setpoint_pct=1.0)

    def new_pulse(self) -> Pulse:
        rng = self.rng
        return Pulse(self.now, rng.uniform(0.5, 1.9), rng.uniform(60, 300), rng.uniform(30, 300), rng.uniform(120, 600))

    def latch(self, value: float) -> None:
        alarm_sp = float(self.v["alarm_setpoint_pct"])
        off_sp = float(self.v["power_off_setpoint_pct"])
        restore = float(self.v["restore_setpoint_pct"])
        eps = 1e-9
        if value >= alarm_sp - eps:
            self.alarm = True
        elif value < restore - eps:
            self.alarm = False
        if value >= off_sp - eps:
            self.power_off = True
        elif value < restore - eps:
            self.power_off = False
        self.v.update(alarm=self.alarm, power_off=self.power_off)

    def write(self, tag: str, value: Any) -> None:
        super().write(tag, float(value))
        self._show()


class CoSensor(GasSensor):
    profile = "co_sensor"
    value_tag = "co_ppm"
    full_scale = 1000.0
    resolution = 1.0
    base_producing = (4.0, 1.5, 900.0)
    base_idle = (1.0, 0.6, 1800.0)
    events_per_hour = 0.25  # blasting and diesel traffic
    ranges: ClassVar[dict[str, tuple[float, float]]] = {"co_ppm": (0.0, 1000.0)}

    def defaults(self) -> None:
        self.v.update(alarm_setpoint_ppm=24.0)

    def new_pulse(self) -> Pulse:
        rng = self.rng
        return Pulse(self.now, rng.uniform(10, 70), rng.uniform(30, 90), rng.uniform(30, 120), rng.uniform(500, 1200))

    def latch(self, value: float) -> None:
        self.alarm = value >= float(self.v["alarm_setpoint_ppm"]) - 1e-9
        self.v["alarm"] = self.alarm

    def write(self, tag: str, value: Any) -> None:
        super().write(tag, float(value))
        self._show()
