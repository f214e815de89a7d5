"""Exception hierarchy of the ledger.

Callers (the platform API, the CLI) map these to their own error reporting, so every message is
written for the person who sent the data and names the offending field.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base class of every error the ledger raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        #: dotted path of the offending field (``inputs.0.tonnes``), when there is one
        self.field = field
        #: every problem found, for batch operations (``[{"row": 3, "field": ..., "message": ...}]``)
        self.errors: list[dict[str, Any]] = errors or []

    def __str__(self) -> str:
        return self.message


class ValidationError(LedgerError):
    """The request is refused and nothing changed (HTTP 422)."""


class NotFound(LedgerError):
    """The enterprise, entry or other object does not exist (HTTP 404)."""


class Conflict(LedgerError):
    """The request clashes with existing state, e.g. a duplicate enterprise code (HTTP 409)."""
