"""Dust monitor at a coal yard: weather of a desert-edge city and dust from traffic and wind.

PM2.5 ≤ PM10 ≤ TSP always (they are nested size fractions). Production traffic raises the
coarse fractions; wind above ~6 m/s lifts dust off stockpiles; truck convoys cause short peaks
that can cross the alarm limits. Temperature follows Wuhai's season and the time of day.
"""

from __future__ import annotations

import math
from typing import ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import OU, Pulse, happens, lag

# Wuhai monthly mean air temperature, °C (continental desert climate)
MONTHLY_MEAN_C = (-9.0, -4.0, 3.0, 12.0, 19.0, 24.0, 26.0, 24.0, 18.0, 10.0, 1.0, -7.0)


class DustMonitor(DeviceModel):
    profile = "dust_monitor"
    max_dt = 10.0
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "pm25_ugm3": (0.0, 1000.0), "pm10_ugm3": (0.0, 1000.0), "tsp_ugm3": (0.0, 20000.0),
        "noise_db": (30.0, 130.0), "temp_c": (-40.0, 80.0), "rh_pct": (0.0, 100.0),
        "wind_speed_mps": (0.0, 60.0), "wind_dir_deg": (0.0, 360.0),
    }

    def setup(self) -> None:
        rng = self.rng
        self.bg = OU(rng, 35.0, 12.0, 3 * 3600.0)
        self.ratio = OU(rng, 1.9, 0.15, 3600.0)
        self.wind = OU(rng, 3.2, 1.6, 1200.0)
        self.direction = OU(rng, 300.0, 45.0, 3 * 3600.0)  # prevailing north-westerly
        self.weather = OU(rng, 0.0, 1.5, 6 * 3600.0)
        self.sound = OU(rng, 0.0, 1.5, 120.0)
        self.activity = 1.0 if self.producing() else 0.0
        self.events: list[Pulse] = []
        self._show()

    def step(self, dt: float) -> None:
        rng = self.rng
        for p in (self.bg, self.ratio, self.wind, self.direction, self.weather, self.sound):
            p.step(dt)
        self.activity = lag(self.activity, 1.0 if self.producing() else 0.0, 900.0, dt)
        if self.producing() and happens(rng, 0.5, dt):  # a convoy, loading at the stockpile
            self.events.append(Pulse(self.now, rng.uniform(300, 1300), rng.uniform(60, 180),
                                     rng.uniform(60, 600), rng.uniform(300, 900)))
        self.events = [e for e in self.events if not e.over(self.now)]
        self._show()

    def _show(self) -> None:
        hour = self.schedule.hour_of_day(self.now)
        month = self.schedule.local(self.now).month
        temp = MONTHLY_MEAN_C[month - 1] + 6.0 * math.cos(2 * math.pi * (hour - 15.0) / 24.0) + self.weather.x
        rh = min(95.0, max(8.0, 42.0 - 1.3 * (temp - MONTHLY_MEAN_C[month - 1]) + 4 * self.weather.x))
        wind = max(0.0, self.wind.x)
        erosion = max(0.0, wind - 6.0) ** 2 * 25.0
        event = sum(e.value(self.now) for e in self.events)
        pm25 = max(3.0, self.bg.x)
        pm10 = pm25 * max(1.2, self.ratio.x) + 55.0 * self.activity + 0.4 * erosion + 0.35 * event
        tsp = pm10 * 1.6 + 80.0 * self.activity + erosion + event
        noise = 47.0 + 14.0 * self.activity + self.sound.x + (6.0 if event > 200 else 0.0)
        self.v.update(
            pm25_ugm3=round(pm25), pm10_ugm3=round(pm10), tsp_ugm3=round(tsp),
            noise_db=round(noise, 1), temp_c=round(temp, 1), rh_pct=round(rh, 1),
            wind_speed_mps=round(wind, 1), wind_dir_deg=round(self.direction.x % 360.0) % 360,
        )
