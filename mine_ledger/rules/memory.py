"""An in-memory :class:`~mine_ledger.rules.base.LedgerView`: the rules on a list of entries.

Used to test each rule on a handful of hand-made entries, and to check entries before they are
stored (e.g. a spreadsheet) without touching the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mine_ledger.entries import SALE_ROLE, moves_from_data
from mine_ledger.rules.base import EntryView, FlowKey, MeterDelta, MeterPeriod, MoveView, Pair


@dataclass
class MemoryView:
    """Entries are taken as stored and live (reversed entries already left out)."""

    items: Sequence[EntryView]
    partners: Mapping[str, Sequence[EntryView]] = field(default_factory=dict)  # supplier code -> shipments
    periods: Sequence[MeterPeriod] = ()
    deltas: Sequence[MeterDelta] = ()

    def __post_init__(self) -> None:
        self.items = sorted(self.items, key=lambda e: (e.at, e.seq))

    def _moves(self) -> list[MoveView]:
        out = []
        for e in self.items:
            for m in moves_from_data(e.kind, e.data):
                out.append(MoveView(e.id, e.seq, e.at, m.product, m.stockpile, m.role, m.kg))
        return out

    def entries(self, start: datetime, end: datetime, kinds: Sequence[str]) -> list[EntryView]:
        return [e for e in self.items if start <= e.at < end and e.kind in kinds]

    def moves(self, start: datetime, end: datetime) -> list[MoveView]:
        return [m for m in self._moves() if start <= m.at < end and m.role != SALE_ROLE]

    def flows(self, start: datetime | None, end: datetime | None) -> dict[FlowKey, int]:
        out: dict[FlowKey, int] = defaultdict(int)
        for m in self._moves():
            if (start is None or m.at >= start) and (end is None or m.at < end):
                out[(m.product, m.stockpile, m.role)] += m.kg
        return dict(out)

    def balance(self, at: datetime) -> dict[Pair, int]:
        out: dict[Pair, int] = defaultdict(int)
        for m in self._moves():
            if m.at < at and m.role != SALE_ROLE:
                out[(m.product, m.stockpile)] += m.kg
        return dict(out)

    def weighing_history(self, vehicles: set[str], start: datetime, end: datetime) -> dict[str, list[EntryView]]:
        out: dict[str, list[EntryView]] = defaultdict(list)
        for e in self.items:
            v = e.data.get("vehicle")
            if e.kind in ("shipment", "receipt") and v in vehicles and start <= e.at < end:
                out[str(v)].append(e)
        return dict(out)

    def partner_shipments(self, supplier: str, ticket: str) -> list[EntryView] | None:
        if supplier not in self.partners:
            return None
        return [e for e in self.partners[supplier] if ticket and e.data.get("ticket") == ticket]

    def meter_periods(self, measures: str, start: datetime, end: datetime) -> list[MeterPeriod]:
        return [p for p in self.periods if p.measures == measures and start <= p.start < end]

    def meter_deltas(self, measures: str, start: datetime, end: datetime) -> list[MeterDelta]:
        return [d for d in self.deltas if d.measures == measures and d.ts > start and d.since < end]


def entry(id: int, kind: str, at: datetime, source: str = "manual", **data: Any) -> EntryView:
    """Shorthand for tests and tools: an EntryView with ``seq = id``."""
    return EntryView(id, id, kind, at, source, data)
