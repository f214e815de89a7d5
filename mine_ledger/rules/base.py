"""What every anomaly rule sees and returns.

Rules read the ledger only through :class:`LedgerView`, so each can be tested on a handful of
entries in memory (:mod:`mine_ledger.rules.memory`) and runs unchanged on the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.periods import ShiftTable, month_bounds
from mine_ledger.values import Q3, add_months, fmt_time, local_date, local_midnight, parse_time

Pair = tuple[str, str]  # (product, stockpile)
FlowKey = tuple[str, str, str]  # (product, stockpile, role)


@dataclass(frozen=True)
class EntryView:
    id: int
    seq: int
    kind: str
    at: datetime
    source: str
    data: Mapping[str, Any]

    def dec(self, key: str) -> Decimal | None:
        v = self.data.get(key)
        return Decimal(str(v)) if v is not None else None

    def time(self, key: str) -> datetime | None:
        v = self.data.get(key)
        return parse_time(v, key) if v else None

    @property
    def order(self) -> tuple[datetime, int]:
        return self.at, self.seq


@dataclass(frozen=True)
class MoveView:
    entry_id: int
    seq: int
    at: datetime
    product: str
    stockpile: str
    role: str
    kg: int
    live: bool = True  # False for a reversed entry, a reversal, or a compensation they carry


@dataclass(frozen=True)
class MeterPeriod:
    """Per-shift total of one meter (production tonnes or energy kWh)."""

    meter: str
    measures: str
    product: str | None
    start: datetime
    end: datetime
    amount: Decimal
    covered: float  # share of the period the meter's readings cover, 0..1
    entry_id: int | None = None


@dataclass(frozen=True)
class MeterDelta:
    """One accepted totalizer increase spread over ``(since, ts]``."""

    meter: str
    measures: str
    product: str | None
    since: datetime
    ts: datetime
    amount: Decimal


class LedgerView(Protocol):
    """Read access to one enterprise's ledger; reversed entries and reversals are left out."""

    def entries(self, start: datetime, end: datetime, kinds: Sequence[str]) -> list[EntryView]:
        """Entries of these kinds with ``start <= at < end`` ordered by (at, seq)."""

    def moves(self, start: datetime, end: datetime) -> list[MoveView]:
        """Every stock movement with ``start <= at < end`` ordered by (at, seq), ``live`` marked."""

    def flows(self, start: datetime | None, end: datetime | None) -> dict[FlowKey, int]:
        """Sum of kg per (product, stockpile, role) in the range (sales included, role ``sale``)."""

    def balance(self, at: datetime) -> dict[Pair, int]:
        """Stock in kg per (product, stockpile) from entries dated strictly before ``at``."""

    def weighing_history(self, vehicles: set[str], start: datetime, end: datetime) -> dict[str, list[EntryView]]:
        """Shipments and receipts of these vehicles dated in ``[start, end)``, by (at, seq)."""

    def partner_shipments(self, supplier: str, ticket: str) -> list[EntryView] | None:
        """Shipments with this ticket of the enterprise named ``supplier``; ``None`` if it is not one of ours."""

    def meter_periods(self, measures: str, start: datetime, end: datetime) -> list[MeterPeriod]:
        """Per-shift meter totals whose period starts in ``[start, end)``."""

    def meter_deltas(self, measures: str, start: datetime, end: datetime) -> list[MeterDelta]:
        """Accepted totalizer increases whose interval overlaps ``[start, end)``."""


@dataclass
class Anomaly:
    code: str
    severity: str
    at: datetime
    entries: list[int]
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "at": fmt_time(self.at), "entries": self.entries,
                "detail": self.detail, "figures": self.figures}


class Rule:
    """One regulatory check; ``scan`` reports anomalies whose ``at`` lies in ``[start, end)``."""

    code: ClassVar[str]

    def scan(self, ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
        raise NotImplementedError


# -- helpers shared by the rules ------------------------------------------------------------------

def t3(d: Decimal | int) -> str:
    """Tonnes as the fixed-point string used in figures."""
    if isinstance(d, int):
        d = Decimal(d) / 1000
    return str(d.quantize(Q3))


def ratio(a: Decimal, b: Decimal) -> float | None:
    return float(round(a / b, 6)) if b else None


def pct(d: Decimal) -> str:
    return f"{(d * 100).normalize():f} %"


def months(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, str]]:
    d = local_date(start).replace(day=1)
    while local_midnight(d) < end:
        s, e = month_bounds(d.year, d.month)
        yield s, e, f"{d.year:04d}-{d.month:02d}"
        d = add_months(d, 1)


def years(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, str]]:
    y = local_date(start).year
    while local_midnight(date(y, 1, 1)) < end:
        yield local_midnight(date(y, 1, 1)), local_midnight(date(y + 1, 1, 1)), str(y)
        y += 1


def days(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, str]]:
    d = local_date(start)
    while local_midnight(d) < end:
        yield local_midnight(d), local_midnight(d + timedelta(days=1)), d.isoformat()
        d += timedelta(days=1)


def periods(grain: str, start: datetime, end: datetime, shifts: ShiftTable) -> Iterator[tuple[datetime, datetime, str]]:
    """Periods of ``grain`` (shift, day, xun, month, year) overlapping ``[start, end)``."""
    if grain == "year":
        yield from years(start, end)
    elif grain == "month":
        yield from months(start, end)
    elif grain == "day":
        yield from days(start, end)
    elif grain == "xun":
        for ms, me, label in months(start, end):
            d = local_date(ms)
            bounds = [ms, local_midnight(d.replace(day=11)), local_midnight(d.replace(day=21)), me]
            for i in range(3):
                if bounds[i] < end and bounds[i + 1] > start:
                    yield bounds[i], bounds[i + 1], f"{label}-{i + 1}旬"
    else:
        for sh, s, e in shifts.instances(start, end):
            yield s, e, f"{local_date(s).isoformat()}/{sh.name}"


def production_interval(ent: EnterpriseInfo, e: EntryView) -> tuple[datetime, datetime]:
    """When a production entry produced: its from/to, else its shift, else the instant ``at``."""
    s, t = e.time("from"), e.time("to")
    if s is not None and t is not None:
        return s, t
    name = e.data.get("shift")
    sh = ent.shifts.get(name) if isinstance(name, str) else None
    if sh is not None:
        return ent.shifts.instance_for(sh, e.at)
    return e.at, e.at
