"""Gathers the plain inputs of `metrics` from the platform's tables and the ledger.

Telemetry activity comes from the 5-minute statistics (`platform_rollup_5m`): raw samples are kept
for days, the statistics for a year, and one row there is exactly one slot of one tag. A month's
activity is cached once it is final, i.e. computed more than `FINAL_AFTER_MS` after the month
ended (gateways redeliver buffered data for at most their buffer's `max_age`, 7 days by default).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, select
from sqlalchemy.engine import Connection, Engine

from platform_api import db
from platform_api.digitalization import store
from platform_api.digitalization.metrics import Activity, DeviceKey, Inputs, Period

SHANGHAI = ZoneInfo("Asia/Shanghai")
FINAL_AFTER_MS = 8 * 86_400_000
MIN_YEAR, MAX_YEAR = 2000, 2100


def month_periods(year: int) -> list[Period]:
    """The twelve months of `year` in Asia/Shanghai as half-open millisecond ranges."""
    out = []
    for m in range(1, 13):
        start = datetime(year, m, 1, tzinfo=SHANGHAI)
        end = datetime(year + (m == 12), m % 12 + 1, 1, tzinfo=SHANGHAI)
        out.append(Period(f"{year}-{m:02d}", round(start.timestamp() * 1000), round(end.timestamp() * 1000)))
    return out


def year_period(year: int) -> Period:
    months = month_periods(year)
    return Period(str(year), months[0].start_ms, months[-1].end_ms)


def current_year(now_ms: int) -> int:
    return datetime.fromtimestamp(now_ms / 1000, SHANGHAI).year


def activity(conn: Connection, code: str, periods: list[Period]) -> dict[str, dict[DeviceKey, Activity]]:
    """Slots with data per period and telemetry device (and per tag), in two grouped queries."""
    if not periods:
        return {}
    t = db.rollup.c
    lo, hi = periods[0].start_ms, periods[-1].end_ms
    which = (case(*[(t.bucket_ms < p.end_ms, k) for k, p in enumerate(periods[:-1])], else_=len(periods) - 1)
             if len(periods) > 1 else literal(0)).label("p")
    where = (t.enterprise == code, t.bucket_ms >= lo, t.bucket_ms < hi)
    out: dict[str, dict[DeviceKey, Activity]] = {p.label: {} for p in periods}
    sub = select(t.gateway, t.device, t.bucket_ms, which).where(*where).subquery()
    q = select(sub.c.gateway, sub.c.device, sub.c.p, func.count(sub.c.bucket_ms.distinct()),
               func.min(sub.c.bucket_ms)).group_by(sub.c.gateway, sub.c.device, sub.c.p)
    for g, d, k, n, first in conn.execute(q):
        out[periods[int(k)].label][(g, d)] = Activity(int(n), int(first))
    sub = select(t.gateway, t.device, t.tag, which).where(*where).subquery()
    q = select(sub.c.gateway, sub.c.device, sub.c.tag, sub.c.p, func.count()) \
        .group_by(sub.c.gateway, sub.c.device, sub.c.tag, sub.c.p)
    for g, d, tag, k, n in conn.execute(q):
        out[periods[int(k)].label].setdefault((g, d), Activity()).tags[tag] = int(n)
    return out


def year_activity(engine: Engine, code: str, year: int, now_ms: int) -> dict[str, dict[DeviceKey, Activity]]:
    """Activity per month of `year` (months not begun by `now_ms` are empty), final months cached."""
    months = [p for p in month_periods(year) if p.start_ms < now_ms]
    with engine.connect() as conn:
        cached = store.cached_months(conn, code, [p.label for p in months])
        out = {label: per for label, (computed, per) in cached.items()
               if computed >= next(p.end_ms for p in months if p.label == label) + FINAL_AFTER_MS}
        todo = [p for p in months if p.label not in out]
        fresh: dict[str, dict[DeviceKey, Activity]] = {}
        if todo:
            # one scan over the span of the missing months; months in between that are cached are
            # recomputed too (cheap, and it keeps the query a single range)
            span = [p for p in months if todo[0].start_ms <= p.start_ms <= todo[-1].start_ms]
            fresh = activity(conn, code, span)
    final = {label: per for label, per in fresh.items()
             if now_ms >= next(p.end_ms for p in months if p.label == label) + FINAL_AFTER_MS}
    store.store_months(engine, code, final, now_ms)
    for label, per in fresh.items():
        out.setdefault(label, per)
    return {p.label: out.get(p.label, {}) for p in month_periods(year)}


def known_devices(conn: Connection, code: str) -> tuple[dict[DeviceKey, int], dict[DeviceKey, set[str]]]:
    """When each telemetry device was first seen, and every tag it has ever reported."""
    d = db.devices.c
    since = {(r.gateway, r.device): int(r.first_seen)
             for r in conn.execute(select(d.gateway, d.device, d.first_seen).where(d.enterprise == code))
             if r.first_seen is not None}
    lt = db.latest.c
    tags: dict[DeviceKey, set[str]] = {}
    for r in conn.execute(select(lt.gateway, lt.device, lt.tag).where(lt.enterprise == code)):
        tags.setdefault((r.gateway, r.device), set()).add(r.tag)
    return since, tags


def ledger_counts(ledger: Any, code: str, year: int) -> dict[str, dict[str, int]]:
    """Ledger entries per month and source; reversals are corrections and are left out."""
    if ledger is None:
        return {}
    months = month_periods(year)
    start = datetime.fromtimestamp(months[0].start_ms / 1000, SHANGHAI)
    end = datetime.fromtimestamp(months[-1].end_ms / 1000, SHANGHAI)
    out: dict[str, dict[str, int]] = {}
    for e in ledger.list_entries(code, from_=start, to=end, limit=None):
        if e.get("kind") == "reversal":
            continue
        at = datetime.fromisoformat(str(e["at"]).replace("Z", "+00:00")).astimezone(SHANGHAI)
        per = out.setdefault(f"{at.year}-{at.month:02d}", {})
        src = str(e.get("source") or "manual")
        per[src] = per.get(src, 0) + 1
    return out


def gateways_online(conn: Connection, codes: list[str]) -> set[str]:
    """Enterprises with a gateway whose last status says online."""
    g = db.gateways.c
    out: set[str] = set()
    for i in range(0, len(codes), 500):
        chunk = codes[i:i + 500]
        out.update(r[0] for r in conn.execute(
            select(g.enterprise).where(g.enterprise.in_(chunk), g.online.is_(True)).distinct()))
    return out


def load(engine: Engine, code: str, year: int, now_ms: int, *, ledger: Any = None) -> Inputs:
    """Everything `metrics.measure` needs for one enterprise and year (ledger counts when given)."""
    acts = year_activity(engine, code, year, now_ms)
    with engine.connect() as conn:
        register = store.register_devices(conn, code)
        processes = store.key_process_list(conn, code)
        since, tags = known_devices(conn, code)
    return Inputs(register=register, key_processes=processes, activity=acts,
                  ledger=ledger_counts(ledger, code, year), known_since=since, known_tags=tags)
