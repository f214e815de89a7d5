"""Three-belt conveyor line under PLC control: sequenced start and stop, protection trips.

The line starts against the coal flow (belt 3, then 2, then 1, 10 s apart) and stops with it
(belt 1 first, so the downstream belts run empty). A pull-cord stop, deviation or slip trips the
whole line and latches until a fault reset: written by a client, or by the simulated operator
after 5-20 minutes. Operators raise the run request at the start of production and drop it at
its end; a client may change it at any time.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import OU, happens, ramp

STOPPED, STARTING, RUNNING, STOPPING, TRIPPED = range(5)
SEQUENCE_GAP_S = 10.0
STOP_GAP_S = 15.0
MOTOR_V, MOTOR_PF = 1140.0, 0.85
_TRIPS = (("estop", 0.03, 0, "E-STOP"), ("deviation", 0.15, 1, "DEVIATION"), ("slip", 0.05, 2, "SLIP"))
_STATE_TEXT = {STOPPED: "STOPPED", STARTING: "STARTING", RUNNING: "RUNNING", STOPPING: "STOPPING"}


class ConveyorPlc(DeviceModel):
    profile = "conveyor_plc"
    max_dt = 1.0
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "belt1_speed": (0.0, 6.0), "belt2_speed": (0.0, 6.0), "belt3_speed": (0.0, 6.0),
        "belt1_current": (0.0, 400.0), "belt2_current": (0.0, 400.0), "belt3_current": (0.0, 400.0),
        "bunker_level_pct": (0.0, 100.0),
    }

    def setup(self) -> None:
        rng = self.rng
        producing = self.producing()
        self.was_producing = producing
        self.state = RUNNING if producing else STOPPED
        self.state_t = 0.0
        self.speeds = [3.5 if producing else 0.0] * 3
        self.motors = [producing] * 3
        self.load = OU(rng, 0.7, 0.12, 900.0)
        self.discharge = OU(rng, 0.35, 0.1, 3600.0)
        self.bunker = rng.uniform(30, 60)
        self.trip: tuple[str, int, str] | None = None
        self.trip_belt = 0
        self.reset_at = 0.0
        self.energy = rng.uniform(1e6, 5e6)
        self.run_seconds = float(rng.randrange(5_000_000, 40_000_000))
        self.start_count = rng.randrange(2_000, 20_000)
        self.alive0 = rng.randrange(0, 65536)
        self.v.update(run_request=producing, fault_reset=False, speed_setpoint=3.5)
        self._show()

    # -- commands --------------------------------------------------------------------------------
    def write(self, tag: str, value: Any) -> None:
        if tag == "fault_reset":
            if value:
                self._reset()
            self.v["fault_reset"] = False  # the PLC acknowledges by clearing the bit
            return
        if tag == "speed_setpoint":
            value = float(value)
        elif tag == "run_request":
            value = bool(value)
        super().write(tag, value)

    def _reset(self) -> None:
        if self.state == TRIPPED:
            self.trip = None
            self.state, self.state_t = STOPPED, 0.0

    # -- physics ---------------------------------------------------------------------------------
    def step(self, dt: float) -> None:
        rng = self.rng
        producing = self.producing()
        if producing != self.was_producing:  # shift edge: the operator changes the request
            self.v["run_request"] = producing
            self.was_producing = producing
        self.state_t += dt
        request = bool(self.v["run_request"])
        if self.state == TRIPPED:
            if self.now >= self.reset_at:
                self._reset()
        elif self.state in (STOPPED, STOPPING) and request:
            if self.state == STOPPED:
                self.start_count = (self.start_count + 1) % 32768
            self.state, self.state_t = STARTING, 0.0
        elif self.state in (STARTING, RUNNING) and not request:
            self.state, self.state_t = STOPPING, 0.0
        if self.state in (STARTING, RUNNING):
            for name, rate, bit, text in _TRIPS:
                if happens(rng, rate, dt):
                    self.trip = (name, bit, text)
                    self.trip_belt = rng.randrange(3)
                    self.state, self.state_t = TRIPPED, 0.0
                    self.reset_at = self.now + rng.uniform(300, 1200)
                    break
        self._sequence()
        setpoint = min(max(float(self.v["speed_setpoint"]), 0.5), 4.5)
        for i in range(3):
            target = setpoint if self.motors[i] else 0.0
            accel = 0.5 if self.motors[i] else (1.0 if self.state == TRIPPED else 0.4)
            self.speeds[i] = ramp(self.speeds[i], target, accel, dt)
        self.load.step(dt)
        self.discharge.step(dt)
        carrying = producing and self.state == RUNNING
        inflow = 0.6 * max(0.0, self.load.x) if carrying else 0.0  # % of the bunker per minute
        outflow = max(0.0, self.discharge.x) if self.bunker > 5 else 0.0
        self.bunker = min(100.0, max(0.0, self.bunker + (inflow - outflow) * dt / 60.0))
        if self.state == RUNNING:
            self.run_seconds += dt
        self.energy += self._power(carrying) * dt / 3600.0
        self._show()

    def _sequence(self) -> None:
        """Which motors should be on for the current state and time in it."""
        t = self.state_t
        if self.state == STARTING:
            self.motors = [t >= 2 * SEQUENCE_GAP_S, t >= SEQUENCE_GAP_S, True]
            if all(self.motors) and all(s >= 0.95 * float(self.v["speed_setpoint"]) for s in self.speeds):
                self.state, self.state_t = RUNNING, 0.0
        elif self.state == RUNNING:
            self.motors = [True, True, True]
        elif self.state == STOPPING:
            self.motors = [False, t < STOP_GAP_S, t < 2 * STOP_GAP_S]
            if not any(self.motors) and max(self.speeds) <= 0.0:
                self.state, self.state_t = STOPPED, 0.0
        else:
            self.motors = [False, False, False]

    def _currents(self, carrying: bool) -> list[float]:
        out = []
        load = max(0.0, self.load.x) if carrying else 0.0
        setpoint = max(0.5, float(self.v["speed_setpoint"]))
        for i in range(3):
            if not self.motors[i] and self.speeds[i] <= 0.0:
                out.append(0.0)
                continue
            accelerating = self.motors[i] and self.speeds[i] < 0.95 * setpoint
            base = 45.0 + 70.0 * load * (self.speeds[i] / setpoint)
            out.append(base * (2.2 if accelerating else 1.0) if self.motors[i] else 0.0)
        return out

    def _power(self, carrying: bool) -> float:
        return sum(math.sqrt(3) * MOTOR_V * i * MOTOR_PF / 1000.0 for i in self._currents(carrying))

    def _show(self) -> None:
        carrying = self.producing() and self.state == RUNNING
        currents = self._currents(carrying)
        trip = self.trip
        code = 0
        if trip is not None:
            code = (1 << trip[1]) | (1 << (8 + self.trip_belt))
        if trip is not None:
            message = f"TRIP: {trip[2]} BELT {self.trip_belt + 1}"
        else:
            message = _STATE_TEXT[self.state]
        self.v.update(
            belt1_running=self.speeds[0] > 0.3, belt2_running=self.speeds[1] > 0.3,
            belt3_running=self.speeds[2] > 0.3,
            line_running=self.state == RUNNING,
            estop=trip is not None and trip[0] == "estop",
            deviation=trip is not None and trip[0] == "deviation",
            slip=trip is not None and trip[0] == "slip",
            fault=trip is not None,
            line_state=self.state, fault_code=code,
            belt1_speed=round(self.speeds[0], 3), belt2_speed=round(self.speeds[1], 3),
            belt3_speed=round(self.speeds[2], 3),
            belt1_current=round(currents[0], 1), belt2_current=round(currents[1], 1),
            belt3_current=round(currents[2], 1),
            start_count=self.start_count, run_seconds=int(self.run_seconds),
            bunker_level_pct=round(self.bunker, 2), energy_kwh=round(self.energy, 3), message=message,
            pullcord_ok=not (trip is not None and trip[0] == "estop"),
            belt1_contactor=self.motors[0], belt2_contactor=self.motors[1], belt3_contactor=self.motors[2],
            alive=(self.alive0 + int(self.now - self.clock.start)) % 65536,
        )
