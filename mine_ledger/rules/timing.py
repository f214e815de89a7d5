"""NIGHT_PRODUCTION and PRODUCTION_DURING_STOP: production in a banned window or a declared stop.

Declared production is judged by its interval (from/to, else its shift, else its instant);
metered flow by the belt-scale increases, so telemetry entries are not reported twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.periods import overlap
from mine_ledger.rules.base import Anomaly, EntryView, LedgerView, MeterDelta, Rule, production_interval, t3
from mine_ledger.values import Q3, fmt_time


def share_inside(e: EntryView, s: datetime, t: datetime, ws: datetime, we: datetime) -> tuple[Decimal, int]:
    """Tonnes of the entry that fall in ``[ws, we)`` (pro rata) and the overlap in minutes."""
    tonnes = e.dec("tonnes") or Decimal(0)
    if t <= s:
        return tonnes, 0
    ov = overlap(s, t, ws, we)
    part = tonnes * Decimal(ov.total_seconds()) / Decimal((t - s).total_seconds())
    return part.quantize(Q3), int(ov.total_seconds() // 60)


def metered_inside(deltas: Iterable[MeterDelta], ws: datetime, we: datetime) -> tuple[Decimal, datetime | None]:
    """Metered amount inside ``[ws, we)`` (each increase spread evenly over its interval) and its first moment."""
    total, first = Decimal(0), None
    for d in deltas:
        ov = overlap(d.since, d.ts, ws, we)
        span = (d.ts - d.since).total_seconds()
        if ov <= timedelta(0) or span <= 0:
            continue
        total += d.amount * Decimal(ov.total_seconds()) / Decimal(span)
        moment = max(d.since, ws)
        first = moment if first is None else min(first, moment)
    return total.quantize(Q3), first


def _windows_rule(
    code: str, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime,
    windows: list[tuple[datetime, datetime, str]], what: str,
) -> list[Anomaly]:
    t = ent.thresholds
    out: list[Anomaly] = []
    if not windows:
        return out
    for e in view.entries(start, end, ["production"]):
        if e.source == "telemetry":
            continue
        s, u = production_interval(ent, e)
        for ws, we, label in windows:
            hit = (s == u and ws <= s < we) or overlap(s, u, ws, we) > timedelta(0)
            if not hit:
                continue
            inside, minutes = share_inside(e, s, u, ws, we)
            out.append(Anomaly(
                code, t.sev(code), e.at, [e.id],
                f"{e.data.get('tonnes')} t of {e.data.get('product')} declared for {fmt_time(s)} – {fmt_time(u)}, "
                f"inside {what} {label}",
                {"tonnes": e.data.get("tonnes"), "tonnes_inside": t3(inside), "overlap_minutes": minutes,
                 "produced_from": fmt_time(s), "produced_to": fmt_time(u), "window": label,
                 "window_from": fmt_time(ws), "window_to": fmt_time(we)},
            ))
            break
    lo = min(ws for ws, _, _ in windows)
    hi = max(we for _, we, _ in windows)
    deltas = view.meter_deltas("production", lo, hi)
    for ws, we, label in windows:
        amount, first = metered_inside(deltas, ws, we)
        if first is None or amount <= t.dec("meter_min_t") or not (start <= first < end):
            continue
        out.append(Anomaly(
            code, t.sev(code), first, [],
            f"belt scales metered {t3(amount)} t inside {what} {label}",
            {"metered_tonnes": t3(amount), "window": label, "window_from": fmt_time(ws), "window_to": fmt_time(we)},
        ))
    return out


class NightProduction(Rule):
    """Production inside the enterprise's night-ban window (e.g. Wuhai, since 2020)."""

    code = "NIGHT_PRODUCTION"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        windows = [
            (ws, we, "-".join(w.as_list()))
            for w in ent.night_ban
            for ws, we in w.instances(start - timedelta(days=2), end + timedelta(days=2))
        ]
        return _windows_rule(self.code, ent, view, start, end, windows, "the night ban")


class ProductionDuringStop(Rule):
    """Production inside a declared stop (停产)."""

    code = "PRODUCTION_DURING_STOP"

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        windows = [
            (s.start, s.end, f"stop {s.id}" + (f" ({s.reason})" if s.reason else ""))
            for s in ent.stops
            if s.start < end + timedelta(days=2) and s.end > start - timedelta(days=2)
        ]
        return _windows_rule(self.code, ent, view, start, end, windows, "the declared")
