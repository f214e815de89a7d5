"""OVER_CAPACITY_MONTH and OVER_CAPACITY_YEAR: raw output against the approved capacity 核定生产能力."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.rules.base import Anomaly, EntryView, LedgerView, Rule, months, pct, ratio, t3, years

RAW = "raw"


def _raw(entries: list[EntryView]) -> list[EntryView]:
    return [e for e in entries if e.data.get("product") == RAW]


def crossing(entries: list[EntryView], base: Decimal, limit: Decimal) -> tuple[int, Decimal] | None:
    """Index of the entry that takes the running total (from ``base``) above ``limit``, and the total."""
    total = base
    for i, e in enumerate(entries):
        total += e.dec("tonnes") or Decimal(0)
        if total > limit:
            return i, total
    return None


class OverCapacityMonth(Rule):
    """A calendar month's raw output above a share (10 %) of the annual capacity."""

    code = "OVER_CAPACITY_MONTH"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        out: list[Anomaly] = []
        for ms, me, label in months(start, end):
            cap = ent.capacity_over(ms, me)
            if not cap:
                continue
            limit = cap * t.dec("month_capacity_share")
            prods = _raw(view.entries(ms, me, ["production"]))
            hit = crossing(prods, Decimal(0), limit)
            if hit is None or not (start <= prods[hit[0]].at < end):
                continue
            total = sum((e.dec("tonnes") or Decimal(0) for e in prods), Decimal(0))
            out.append(Anomaly(
                self.code, t.sev(self.code), prods[hit[0]].at, [e.id for e in prods[hit[0]:]],
                f"raw output of {label} is {t3(total)} t, above {pct(t.dec('month_capacity_share'))} of the "
                f"approved capacity {t3(cap)} t/a ({t3(limit)} t)",
                {"month": label, "production": t3(total), "capacity_tpa": t3(cap), "limit": t3(limit),
                 "capacity_use": ratio(total, cap)},
            ))
        return out


class OverCapacityYear(Rule):
    """Year-to-date raw output above the capacity (warning) or above 110 % of it (major)."""

    code = "OVER_CAPACITY_YEAR"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        t = ent.thresholds
        out: list[Anomaly] = []
        for ys, ye, label in years(start, end):
            cap = ent.capacity_over(ys, ye)
            if not cap:
                continue
            lo, hi = max(ys, start), min(ye, end)
            base_kg = sum(kg for (p, _s, role), kg in view.flows(ys, lo).items() if p == RAW and role == "production")
            base = Decimal(base_kg) / 1000
            prods = _raw(view.entries(lo, hi, ["production"]))
            levels = [(t.sev(self.code), t.dec("year_capacity_warning")), ("major", t.dec("year_capacity_major"))]
            for severity, share in levels:
                limit = cap * share
                if base > limit:
                    continue  # crossed before this range: reported there
                hit = crossing(prods, base, limit)
                if hit is None:
                    continue
                i, total = hit
                out.append(Anomaly(
                    self.code, severity, prods[i].at, [e.id for e in prods[i:]],
                    f"raw output of {label} reached {t3(total)} t by {prods[i].at.date()}, above "
                    f"{pct(share)} of the approved capacity {t3(cap)} t/a",
                    {"year": label, "production_to_date": t3(total), "capacity_tpa": t3(cap), "limit": t3(limit),
                     "capacity_use": ratio(total, cap)},
                ))
        return out
