"""Drainage pump room: mine water fills the sump, pumps empty it under level control.

In automatic the lead pump starts at the start level, the lag pump joins when the level still
rises 0.6 m higher, and both stop at the stop level; lead and lag swap every cycle to share wear.
Off automatic the pumps follow the manual commands. A pump sometimes trips and is unavailable
until repaired, so the level can climb to the high-level alarm.
"""

from __future__ import annotations

from typing import Any, ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import OU, happens

SUMP_AREA_M2 = 180.0
PUMP_M3H = 420.0
TOTAL_MODULUS_M3 = (1 << 32) / 10  # uint32 counter in 0.1 m³


class DrainagePump(DeviceModel):
    profile = "drainage_pump"
    max_dt = 5.0
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "sump_level_m": (0.0, 6.0), "flow_m3h": (0.0, 1_200.0), "outlet_pressure_mpa": (0.0, 10.0),
        "pump1_current_a": (0.0, 100.0), "pump2_current_a": (0.0, 100.0),
    }

    def setup(self) -> None:
        rng = self.rng
        self.inflow = OU(rng, 260.0, 40.0, 4 * 3600.0)
        self.flow_noise = OU(rng, 0.0, 0.015, 60.0)
        self.level = rng.uniform(1.5, 3.2)
        self.running = [False, False]
        self.fault_until = [0.0, 0.0]
        self.lead = 0
        self.total = rng.uniform(1e6, 2e7)
        self.v.update(auto_mode=True, pump1_cmd=False, pump2_cmd=False, start_level_m=3.5, stop_level_m=1.2)
        self._show()

    def _available(self, i: int) -> bool:
        return self.now >= self.fault_until[i]

    def step(self, dt: float) -> None:
        rng = self.rng
        for i in (0, 1):
            if self.running[i] and happens(rng, 0.005, dt):  # trip: bearing, seal, motor protection
                self.fault_until[i] = self.now + rng.uniform(3600, 4 * 3600)
        if self.v["auto_mode"]:
            self._auto()
        else:
            self.running = [bool(self.v["pump1_cmd"]), bool(self.v["pump2_cmd"])]
        self.running = [r and self._available(i) for i, r in enumerate(self.running)]
        self.inflow.mean = 290.0 if self.producing() else 250.0  # process water while producing
        inflow = max(0.0, self.inflow.step(dt))
        self.flow_noise.step(dt)
        outflow = self._outflow()
        self.level = max(0.0, self.level + (inflow - outflow) * dt / 3600.0 / SUMP_AREA_M2)
        self.total = (self.total + outflow * dt / 3600.0) % TOTAL_MODULUS_M3
        self._show()

    def _auto(self) -> None:
        start, stop = float(self.v["start_level_m"]), float(self.v["stop_level_m"])
        lead, lag_ = self.lead, 1 - self.lead
        if self.level <= stop:
            if any(self.running):
                self.lead = 1 - self.lead  # swap duty for the next cycle
            self.running = [False, False]
            return
        n = sum(self.running)
        if n == 0 and self.level >= start:
            first = lead if self._available(lead) else lag_
            self.running[first] = True
        elif n == 1 and self.level >= start + 0.6:
            self.running = [True, True]
        elif n == 0 and self.level >= start + 0.6:
            self.running = [True, True]

    def _outflow(self) -> float:
        n = sum(self.running)
        if n == 0:
            return 0.0
        per_pump = PUMP_M3H * (1.0 if n == 1 else 0.95)  # two pumps share one main: more friction
        return n * per_pump * (1.0 + self.flow_noise.x)

    def _show(self) -> None:
        flow = self._outflow()
        running = any(self.running)
        self.v.update(
            pump1_running=self.running[0], pump2_running=self.running[1],
            pump1_fault=not self._available(0), pump2_fault=not self._available(1),
            sump_level_m=round(self.level, 3),
            flow_m3h=round(flow, 1),
            outlet_pressure_mpa=round((6.35 if running else 5.82) + 0.05 * self.flow_noise.x, 3),
            pump1_current_a=round(49.5 * (1 + self.flow_noise.x), 1) if self.running[0] else 0.0,
            pump2_current_a=round(49.0 * (1 + self.flow_noise.x), 1) if self.running[1] else 0.0,
            total_m3=round(self.total, 1),
        )

    def write(self, tag: str, value: Any) -> None:
        if tag in ("auto_mode", "pump1_cmd", "pump2_cmd"):
            value = bool(value)
        elif tag in ("start_level_m", "stop_level_m"):
            value = float(value)
        super().write(tag, value)
