"""Main ventilation fan on a drive: the fan laws tie air volume, pressure and power to frequency.

Air volume ∝ f, pressure ∝ f², shaft power ∝ f³; motor and bearing temperatures follow the load
with thermal lags; vibration wanders and sometimes rises for a while (a loose bolt, an imbalance).
The fan runs around the clock; writing a frequency setpoint of 0 stops it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import OU, Pulse, happens, lag, ramp

Q_NOMINAL = 11_000.0  # m³/min at 50 Hz
P_NOMINAL = 2_900.0  # Pa at 50 Hz
FAN_EFF, MOTOR_EFF, MOTOR_PF = 0.82, 0.95, 0.86
AMBIENT_C = 15.0


class VentilationFan(DeviceModel):
    profile = "ventilation_fan"
    max_dt = 5.0
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "frequency_hz": (0.0, 60.0), "current_a": (0.0, 200.0), "voltage_v": (0.0, 12_000.0),
        "power_kw": (0.0, 1_500.0), "air_volume_m3min": (0.0, 20_000.0), "pressure_pa": (0.0, 5_000.0),
        "motor_temp_c": (-20.0, 200.0), "bearing_temp_c": (-20.0, 150.0), "vibration_mms": (0.0, 50.0),
    }

    def setup(self) -> None:
        rng = self.rng
        self.freq = 45.0
        self.voltage = OU(rng, 10_050.0, 40.0, 600.0)
        self.resistance = OU(rng, 1.0, 0.02, 1800.0)  # mine resistance changes: doors, faces advancing
        self.vib = OU(rng, 2.2, 0.25, 600.0)
        self.vib_events: list[Pulse] = []
        self.run_hours = rng.uniform(20_000, 60_000)
        load = self._power(self.freq) / 700.0
        self.motor_temp = AMBIENT_C + 60.0 * load
        self.bearing_temp = AMBIENT_C + 30.0 * self.freq / 50.0
        self.v.update(frequency_setpoint_hz=45.0, reversing=False)
        self._show()

    @staticmethod
    def _power(freq: float) -> float:
        """Electrical input power in kW at `freq`."""
        r = freq / 50.0
        shaft_w = (Q_NOMINAL * r / 60.0) * (P_NOMINAL * r * r) / FAN_EFF
        return shaft_w / MOTOR_EFF / 1000.0

    def step(self, dt: float) -> None:
        rng = self.rng
        setpoint = min(max(float(self.v["frequency_setpoint_hz"]), 0.0), 50.0)
        self.freq = ramp(self.freq, setpoint, 0.5, dt)
        for p in (self.voltage, self.resistance, self.vib):
            p.step(dt)
        if self.freq > 1 and happens(rng, 0.02, dt):
            self.vib_events.append(Pulse(self.now, rng.uniform(2.5, 6.0), rng.uniform(60, 600),
                                         rng.uniform(600, 3600), rng.uniform(300, 1800)))
        self.vib_events = [e for e in self.vib_events if not e.over(self.now)]
        power = self._power(self.freq)
        self.motor_temp = lag(self.motor_temp, AMBIENT_C + 60.0 * power / 700.0, 1800.0, dt)
        self.bearing_temp = lag(self.bearing_temp, AMBIENT_C + 30.0 * self.freq / 50.0
                                + 4.0 * sum(e.value(self.now) for e in self.vib_events), 1200.0, dt)
        if self.freq > 1:
            self.run_hours += dt / 3600.0
        self._show()

    def refresh(self) -> None:
        self._show()

    def _show(self) -> None:
        r = self.freq / 50.0
        running = self.freq > 1.0
        power = self._power(self.freq) * self.resistance.x
        voltage = self.voltage.x - 0.05 * power
        current = power * 1000.0 / (math.sqrt(3) * voltage * MOTOR_PF) if running else 0.0
        vibration = (max(0.3, self.vib.x) + sum(e.value(self.now) for e in self.vib_events)) * r if running else 0.05
        self.v.update(
            running=running,
            fault=self.sensor_failed("current_a", "voltage_v", "motor_temp_c", "bearing_temp_c", "vibration_mms"),
            frequency_hz=round(self.freq, 2),
            current_a=round(current, 1),
            voltage_v=round(voltage),
            power_kw=round(power, 1),
            air_volume_m3min=round(Q_NOMINAL * r / math.sqrt(self.resistance.x), 1),
            pressure_pa=round(P_NOMINAL * r * r * self.resistance.x, 1),
            motor_temp_c=round(self.motor_temp, 1),
            bearing_temp_c=round(self.bearing_temp, 1),
            vibration_mms=round(vibration, 2),
            run_hours=round(self.run_hours, 1),
        )

    def write(self, tag: str, value: Any) -> None:
        super().write(tag, float(value) if tag == "frequency_setpoint_hz" else value)
