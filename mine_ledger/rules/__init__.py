"""Anomaly rules of CONTRACTS §6, one class per code; :func:`scan` runs them all."""

from __future__ import annotations

from datetime import datetime

from mine_ledger.enterprise import EnterpriseInfo
from mine_ledger.rules.base import Anomaly, LedgerView, Rule
from mine_ledger.rules.capacity import OverCapacityMonth, OverCapacityYear
from mine_ledger.rules.stock import NegativeStock, SalesExceedStock, StockMismatch
from mine_ledger.rules.telemetry import EnergyOutputMismatch, TelemetryMismatch
from mine_ledger.rules.timing import NightProduction, ProductionDuringStop
from mine_ledger.rules.weighing import DuplicateWeighing, ReceiptUnmatched, ShipmentUnweighed, TareDeviation

RULES: tuple[Rule, ...] = (
    OverCapacityMonth(),
    OverCapacityYear(),
    NightProduction(),
    ProductionDuringStop(),
    NegativeStock(),
    StockMismatch(),
    SalesExceedStock(),
    ShipmentUnweighed(),
    TareDeviation(),
    DuplicateWeighing(),
    ReceiptUnmatched(),
    TelemetryMismatch(),
    EnergyOutputMismatch(),
)


def scan(ent: EnterpriseInfo, view: LedgerView, start: datetime, end: datetime) -> list[Anomaly]:
    """Every enabled rule over ``[start, end)``, ordered by time then code."""
    disabled = ent.thresholds.disabled
    found: list[Anomaly] = []
    for rule in RULES:
        if rule.code not in disabled:
            found.extend(rule.scan(ent, view, start, end))
    found.sort(key=lambda a: (a.at, a.code, a.entries))
    return found


__all__ = ["RULES", "Anomaly", "LedgerView", "Rule", "scan"]
