"""Power meter on the 10 kV feeder: base load around the clock plus the production load.

Active power is the base load (fans, pumps, lighting) plus belts, crushers and the washing plant
while the site produces; the energy registers count whole 0.01 kWh in a uint32 and wrap, like
the meters do. Currents, reactive power and voltage drop follow from power and power factor.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import OU, lag

LINE_KV = 10.3
COUNTER_MODULUS = 1 << 32  # raw 0.01 kWh counts


class PowerMeter(DeviceModel):
    profile = "power_meter"
    max_dt = 5.0
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "ua_v": (0.0, 12_000.0), "ub_v": (0.0, 12_000.0), "uc_v": (0.0, 12_000.0),
        "ia_a": (0.0, 360.0), "ib_a": (0.0, 360.0), "ic_a": (0.0, 360.0),
        "p_kw": (0.0, 6_000.0), "q_kvar": (0.0, 6_000.0), "pf": (0.0, 1.0), "freq_hz": (45.0, 55.0),
    }

    def setup(self) -> None:
        rng = self.rng
        self.base = OU(rng, 1_000.0, 80.0, 1800.0)
        self.activity_noise = OU(rng, 0.85, 0.08, 1200.0)
        self.pf_noise = OU(rng, 0.0, 0.008, 1800.0)
        self.freq = OU(rng, 50.0, 0.02, 120.0)
        self.grid = OU(rng, 0.0, 0.004, 3600.0)
        self.unbalance = [rng.uniform(-0.02, 0.02) for _ in range(3)]
        self.activity = self.activity_noise.x if self.producing() else 0.0
        self.kwh_counts = rng.randrange(100_000_000, 2_000_000_000)
        self.kvarh_counts = int(self.kwh_counts * 0.4)
        self.kwh_carry = self.kvarh_carry = 0.0
        self.v.update(ct_ratio=300, pt_ratio=100)
        self._show()

    def _power(self) -> tuple[float, float]:
        p = max(100.0, self.base.x) + 1_900.0 * self.activity
        pf = min(0.99, max(0.7, (0.94 if self.activity > 0.3 else 0.91) + self.pf_noise.x))
        return p, pf

    def step(self, dt: float) -> None:
        for proc in (self.base, self.activity_noise, self.pf_noise, self.freq, self.grid):
            proc.step(dt)
        goal = max(0.0, self.activity_noise.x) if self.producing() else 0.0
        self.activity = lag(self.activity, goal, 600.0, dt)
        p, pf = self._power()
        q = p * math.tan(math.acos(pf))
        self.kwh_carry += p * dt / 3600.0 * 100.0
        self.kvarh_carry += q * dt / 3600.0 * 100.0
        whole_p, whole_q = int(self.kwh_carry), int(self.kvarh_carry)
        self.kwh_carry -= whole_p
        self.kvarh_carry -= whole_q
        self.kwh_counts = (self.kwh_counts + whole_p) % COUNTER_MODULUS
        self.kvarh_counts = (self.kvarh_counts + whole_q) % COUNTER_MODULUS
        self._show()

    def _show(self) -> None:
        p, pf = self._power()
        q = p * math.tan(math.acos(pf))
        line_v = LINE_KV * 1000.0 * (1.0 + self.grid.x) - 0.04 * p
        phase_v = line_v / math.sqrt(3)
        current = p * 1000.0 / (math.sqrt(3) * line_v * pf)
        u = [phase_v * (1 + d / 4) for d in self.unbalance]
        i = [current * (1 + d) for d in self.unbalance]
        self.v.update(
            ua_v=round(u[0], 1), ub_v=round(u[1], 1), uc_v=round(u[2], 1),
            ia_a=round(i[0], 2), ib_a=round(i[1], 2), ic_a=round(i[2], 2),
            p_kw=round(p, 1), q_kvar=round(q, 1), pf=round(pf, 3), freq_hz=round(self.freq.x, 3),
            energy_kwh=self.kwh_counts / 100.0, energy_kvarh=self.kvarh_counts / 100.0,
        )

    def preset(self, tag: str, value: Any) -> None:
        if tag in ("energy_kwh", "energy_kvarh"):
            counts = round(float(value) * 100) % COUNTER_MODULUS
            if tag == "energy_kwh":
                self.kwh_counts = counts
            else:
                self.kvarh_counts = counts
            self.v[tag] = counts / 100.0
            return
        super().preset(tag, value)
