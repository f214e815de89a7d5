"""TELEMETRY_MISMATCH and ENERGY_OUTPUT_MISMATCH: declarations against what the meters saw."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.periods import overlap
from mine_ledger.rules.base import (
    Anomaly,
    LedgerView,
    MeterPeriod,
    Rule,
    days,
    pct,
    periods,
    production_interval,
    ratio,
    t3,
)
from mine_ledger.rules.timing import share_inside
from mine_ledger.values import day_start


def coverage(items: list[MeterPeriod], start: datetime, end: datetime) -> float:
    """Share of ``[start, end)`` covered by readings, averaged over the meters present."""
    by_meter: dict[str, float] = defaultdict(float)
    for p in items:
        by_meter[p.meter] += p.covered * (p.end - p.start).total_seconds()
    if not by_meter:
        return 0.0
    span = (end - start).total_seconds()
    return min(1.0, sum(by_meter.values()) / len(by_meter) / span)


class TelemetryMismatch(Rule):
    """Declared production off the belt-scale total of the same period by more than 2 %.

    Only the shifts every production meter of the product covered (≥ 95 % by default) are
    compared: declared entries are spread over their interval (from/to, else their shift) and the
    part inside those shifts is set against what the meters counted there.
    """

    code = "TELEMETRY_MISMATCH"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        plist = list(periods(t.text("telemetry_period"), start, end, ent.shifts))
        if not plist:
            return []
        lo, hi = plist[0][0], plist[-1][1]
        metered_all = view.meter_periods("production", lo, hi)
        if not metered_all:
            return []
        min_cov = float(t.dec("telemetry_min_coverage"))
        meters_of: dict[str | None, set[str]] = defaultdict(set)
        windows: dict[tuple[str | None, datetime, datetime], list[MeterPeriod]] = defaultdict(list)
        for p in metered_all:
            meters_of[p.product].add(p.meter)
            windows[(p.product, p.start, p.end)].append(p)
        comparable = {
            key: items for key, items in windows.items()
            if {p.meter for p in items if p.covered >= min_cov} == meters_of[key[0]]
        }
        declared_all = [e for e in view.entries(lo - timedelta(days=1), hi + timedelta(days=1), ["production"])
                        if e.source != "telemetry"]
        spans = [(e, *production_interval(ent, e)) for e in declared_all]
        out = []
        for ps, pe, label in plist:
            if not (start <= ps < end):
                continue
            for product in sorted(meters_of, key=str):
                wins = [(ws, we, items) for (prod, ws, we), items in comparable.items()
                        if prod == product and ps <= ws < pe]
                if not wins:
                    continue
                metered = sum((p.amount for _, _, items in wins for p in items), Decimal(0))
                declared, ids = Decimal(0), []
                for e, s, u in spans:
                    if product is not None and e.data.get("product") != product:
                        continue
                    part = Decimal(0)
                    for ws, we, _ in wins:
                        if s == u:
                            part += (e.dec("tonnes") or Decimal(0)) if ws <= s < we else Decimal(0)
                        elif overlap(s, u, ws, we) > timedelta(0):
                            part += share_inside(e, s, u, ws, we)[0]
                    if part:
                        declared += part
                        ids.append(e.id)
                if ent.production_source == "metered" and not ids:
                    continue
                if metered == 0 and declared == 0:
                    continue
                diff = declared - metered
                if metered and abs(diff) <= t.dec("telemetry_share") * metered:
                    continue
                hours = sum((we - ws).total_seconds() for ws, we, _ in wins) / 3600
                out.append(Anomaly(
                    self.code, t.sev(self.code), ps, ids,
                    f"declared {t3(declared)} t of {product or 'production'} in {label}, belt scales metered "
                    f"{t3(metered)} t over the same {hours:g} h (limit {pct(t.dec('telemetry_share'))})",
                    {"period": label, "product": product, "declared": t3(declared), "metered": t3(metered),
                     "difference": t3(diff), "difference_share": ratio(diff, metered), "hours_compared": hours},
                ))
        return out


class EnergyOutputMismatch(Rule):
    """A day's tonnes per kWh off the trailing 30-day norm by more than 30 %."""

    code = "ENERGY_OUTPUT_MISMATCH"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        window = t.count("energy_window_days")
        lo = day_start(start) - timedelta(days=window)
        energy_periods = view.meter_periods("energy", lo, end)
        if not energy_periods:
            return []
        energy: dict[datetime, Decimal] = defaultdict(Decimal)
        covered: dict[datetime, list[MeterPeriod]] = defaultdict(list)
        for p in energy_periods:
            d = day_start(p.start)
            energy[d] += p.amount
            covered[d].append(p)
        output: dict[datetime, Decimal] = defaultdict(Decimal)
        ids: dict[datetime, list[int]] = defaultdict(list)
        for e in view.entries(lo, end, ["production"]):
            if e.data.get("product") == "raw":
                output[day_start(e.at)] += e.dec("tonnes") or Decimal(0)
                ids[day_start(e.at)].append(e.id)
        min_cov = float(t.dec("telemetry_min_coverage"))
        good = {d for d, items in covered.items() if coverage(items, d, d + timedelta(days=1)) >= min_cov}
        out = []
        for ds, _de, label in days(start, end):
            if ds not in good or ds < start:
                continue
            norm_days = [d for d in good if ds - timedelta(days=window) <= d < ds and energy[d] > 0]
            if len(norm_days) < t.count("energy_min_days"):
                continue
            norm_out = sum((output[d] for d in norm_days), Decimal(0))
            norm_energy = sum((energy[d] for d in norm_days), Decimal(0))
            if norm_out <= 0 or norm_energy <= 0:
                continue
            norm = norm_out / norm_energy
            if energy[ds] == 0 and output[ds] == 0:
                continue
            today = output[ds] / energy[ds] if energy[ds] else None
            deviation = abs(today - norm) / norm if today is not None else None
            if deviation is not None and deviation <= t.dec("energy_share"):
                continue
            out.append(Anomaly(
                self.code, t.sev(self.code), ds, ids.get(ds, []),
                f"{label}: {t3(output[ds])} t of raw coal for {t3(energy[ds])} kWh, "
                f"{'no energy metered' if today is None else f'{today:.6f} t/kWh'} against a "
                f"{window}-day norm of {norm:.6f} t/kWh",
                {"day": label, "output": t3(output[ds]), "energy_kwh": t3(energy[ds]),
                 "t_per_kwh": float(round(today, 8)) if today is not None else None,
                 "norm_t_per_kwh": float(round(norm, 8)),
                 "deviation": ratio(deviation, Decimal(1)) if deviation is not None else None,
                 "days_in_norm": len(norm_days)},
            ))
        return out
