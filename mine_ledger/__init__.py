"""产运销存 (production, transport, sales, stock) ledger: balances, tamper evidence, anomaly rules."""

from mine_ledger.errors import Conflict, LedgerError, NotFound, ValidationError
from mine_ledger.service import Ledger

__all__ = ["Conflict", "Ledger", "LedgerError", "NotFound", "ValidationError"]
