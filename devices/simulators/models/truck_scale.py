"""Truck scale: trucks drive on, settle, are weighed and drive off; a ticket per loaded truck.

An empty truck is weighed in (its tare), leaves to load and comes back 15-40 minutes later to be
weighed out (gross); the gross weighing completes the ticket: the ticket number increments and
the last-ticket registers show gross, tare, net and plate. Weights are shown rounded to the
division e and are `stable` only once the truck stands still.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from devices.simulators.base import DeviceModel
from devices.simulators.processes import happens

DIVISION_KG = 20
CAPACITY_T = 60
_PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates
IDLE, DRIVE_ON, SETTLE, STABLE, DRIVE_OFF = range(5)
_TARE, _GROSS = 1, 2


@dataclass(slots=True)
class Truck:
    plate: str
    tare_kg: float  # its usual empty weight
    tare_recorded: int | None = None


@dataclass(slots=True)
class Visit:
    truck: Truck
    kind: int  # _TARE (weighing in, empty) or _GROSS (weighing out, loaded)
    weight_kg: float
    due: float  # when it reaches the scale


def _round_e(kg: float) -> int:
    return round(kg / DIVISION_KG) * DIVISION_KG


class TruckScale(DeviceModel):
    profile = "truck_scale"
    max_dt = 1.0
    ranges: ClassVar[dict[str, tuple[float, float]]] = {"weight_t": (-1.0, CAPACITY_T + 9 * DIVISION_KG / 1000)}

    arrivals_per_hour = 7.5

    def setup(self) -> None:
        rng = self.rng
        plates: set[str] = set()
        while len(plates) < 24:
            plates.add("蒙L" + "".join(rng.choice(_PLATE_CHARS) for _ in range(5)))
        self.fleet = [Truck(p, rng.uniform(14_000, 18_500)) for p in sorted(plates)]
        self.waiting: list[Visit] = []
        self.loading: list[Visit] = []  # gross visits not yet back at the scale
        self.visit: Visit | None = None
        self.phase = IDLE
        self.phase_t = 0.0
        self.phase_len = 0.0
        self.recorded = False
        self.weight = 0.0
        self.v.update(
            weight_t=0.0, stable=True, zero=True, overload=False, division_kg=DIVISION_KG,
            capacity_t=CAPACITY_T, stage=0, ticket_no=rng.randrange(10_000, 90_000),
            last_gross_t=0.0, last_tare_t=0.0, last_net_t=0.0, plate="", last_plate="",
        )

    # -- traffic -------------------------------------------------------------------------------
    def _arrivals(self, dt: float) -> None:
        rng, t = self.rng, self.now
        if self.producing() and happens(rng, self.arrivals_per_hour, dt):
            idle = [tr for tr in self.fleet if tr.tare_recorded is None
                    and all(v.truck is not tr for v in self.waiting + self.loading)
                    and (self.visit is None or self.visit.truck is not tr)]
            if idle:
                truck = rng.choice(idle)
                tare = truck.tare_kg + rng.gauss(0, 40)  # fuel, mud
                self.waiting.append(Visit(truck, _TARE, tare, t))
        for visit in [v for v in self.loading if v.due <= t]:
            self.loading.remove(visit)
            self.waiting.append(visit)

    def _begin(self, visit: Visit) -> None:
        self.visit = visit
        self.phase, self.phase_t, self.phase_len = DRIVE_ON, 0.0, self.rng.uniform(5, 9)
        self.recorded = False

    def step(self, dt: float) -> None:
        rng = self.rng
        self._arrivals(dt)
        if self.visit is None:
            if self.waiting:
                self._begin(self.waiting.pop(0))
            else:
                self.weight = 0.0
                self._show(stable=True)
                return
        visit = self.visit
        assert visit is not None
        self.phase_t += dt
        target = visit.weight_kg
        if self.phase == DRIVE_ON:
            axles = 6
            frac = min(1.0, self.phase_t / self.phase_len)
            self.weight = target * (int(frac * axles) / axles) + rng.gauss(0, 150)
            if self.phase_t >= self.phase_len:
                self.phase, self.phase_t, self.phase_len = SETTLE, 0.0, rng.uniform(2, 4)
        elif self.phase == SETTLE:
            self.weight = target + rng.gauss(0, 120) * (1 - self.phase_t / self.phase_len)
            if self.phase_t >= self.phase_len:
                self.phase, self.phase_t, self.phase_len = STABLE, 0.0, rng.uniform(10, 20)
        elif self.phase == STABLE:
            self.weight = target
            if self.phase_t >= 2.0 and not self.recorded:
                self._record(visit)
            if self.phase_t >= self.phase_len:
                self.phase, self.phase_t, self.phase_len = DRIVE_OFF, 0.0, rng.uniform(5, 8)
        elif self.phase == DRIVE_OFF:
            frac = max(0.0, 1.0 - self.phase_t / self.phase_len)
            self.weight = target * (int(frac * 6 + 0.999) / 6) + rng.gauss(0, 150) if frac > 0 else 0.0
            if self.phase_t >= self.phase_len:
                self.visit, self.phase, self.weight = None, IDLE, 0.0
        self._show(stable=self.phase in (STABLE, IDLE))

    def _record(self, visit: Visit) -> None:
        self.recorded = True
        shown = _round_e(visit.weight_kg)
        truck = visit.truck
        if visit.kind == _TARE:
            truck.tare_recorded = shown
            payload = 49_000 - visit.weight_kg - self.rng.uniform(0, 2_500)
            gross = visit.weight_kg + payload
            self.loading.append(Visit(truck, _GROSS, gross, self.now + self.rng.uniform(900, 2400)))
            return
        tare = truck.tare_recorded if truck.tare_recorded is not None else _round_e(truck.tare_kg)
        truck.tare_recorded = None
        self.v.update(
            ticket_no=int(self.v["ticket_no"]) + 1,
            last_gross_t=shown / 1000.0,
            last_tare_t=tare / 1000.0,
            last_net_t=(shown - tare) / 1000.0,
            last_plate=truck.plate,
        )

    def _show(self, stable: bool) -> None:
        kg = _round_e(self.weight)
        visit = self.visit
        self.v.update(
            weight_t=kg / 1000.0,
            stable=stable,
            zero=visit is None and kg == 0,
            overload=kg > CAPACITY_T * 1000 + 9 * DIVISION_KG,
            stage=0 if visit is None else visit.kind,
            plate="" if visit is None or (self.phase == DRIVE_ON and self.phase_t < 2) else visit.truck.plate,
        )
