"""Stocktakes 盘点 pin the stock: after a survey the book is what was measured.

An entry dated before a stocktake (a late entry, a reversal) would otherwise shift every balance
after the survey away from the measured figure. Instead, each stock movement dated before the
first live stocktake of its (product, stockpile) gets a compensating ``stocktake`` movement at that
stocktake's time: balances up to the survey change, the surveyed figure does not, and the survey's
variance absorbs the difference. Everything stays append-only, and ``verify`` replays the same
rule from the entries alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from mine_ledger.entries import SALE_ROLE, Move

Pair = tuple[str, str]
Timed = tuple[datetime, Move]
STOCKTAKE_ROLE = "stocktake"


@dataclass
class Pin:
    key: Hashable  # entry id (or a placeholder for one not stored yet)
    at: datetime
    effective: int  # kg: the survey's variance including every compensation it absorbed


class Pins:
    """Live stocktakes per (product, stockpile), ordered by time."""

    def __init__(self) -> None:
        self._by_pair: dict[Pair, list[Pin]] = defaultdict(list)
        self._by_key: dict[Hashable, tuple[Pair, Pin]] = {}

    def add(self, pair: Pair, key: Hashable, at: datetime, kg: int) -> None:
        pin = Pin(key, at, kg)
        lst = self._by_pair[pair]
        lst.append(pin)
        lst.sort(key=lambda p: p.at)
        self._by_key[key] = (pair, pin)

    def get(self, key: Hashable) -> tuple[Pair, Pin] | None:
        return self._by_key.get(key)

    def remove(self, key: Hashable) -> None:
        hit = self._by_key.pop(key, None)
        if hit is not None:
            self._by_pair[hit[0]].remove(hit[1])

    def rekey(self, old: Hashable, new: Hashable) -> None:
        hit = self._by_key.pop(old, None)
        if hit is not None:
            hit[1].key = new
            self._by_key[new] = hit

    def at_instant(self, pair: Pair, at: datetime) -> Pin | None:
        return next((p for p in self._by_pair.get(pair, []) if p.at == at), None)

    def first_after(self, pair: Pair, at: datetime) -> Pin | None:
        return next((p for p in self._by_pair.get(pair, []) if p.at > at), None)

    def compensate(self, moves: list[Timed]) -> list[Timed]:
        """The compensating movements for ``moves`` (and the pins' effective variances updated)."""
        out: list[Timed] = []
        for at, m in moves:
            if m.role == SALE_ROLE or m.kg == 0:
                continue
            pin = self.first_after((m.product, m.stockpile), at)
            if pin is not None:
                pin.effective -= m.kg
                out.append((pin.at, Move(m.product, m.stockpile, STOCKTAKE_ROLE, -m.kg)))
        return out
