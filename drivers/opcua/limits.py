"""The server's OperationLimits (Part 5 §6.3.11), read at connect and obeyed by every batch.

A server that publishes no limit gets a conservative 100 per call; one that publishes 0 ("no
limit") still gets bounded requests, so a single response never grows without bound. The
configured options may lower a limit, never raise it. When a server refuses a batch with
BadTooManyOperations anyway, the batch size is halved and remembered (`adapted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asyncua import ua

DEFAULT_LIMIT = 100
UNLIMITED_CAP = 1000

LIMIT_NODES: dict[str, int] = {
    "max_nodes_per_read": ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
    "max_monitored_items_per_call": ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
    "max_nodes_per_browse": ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
}


@dataclass(slots=True)
class OperationLimits:
    max_nodes_per_read: int = DEFAULT_LIMIT
    max_monitored_items_per_call: int = DEFAULT_LIMIT
    max_nodes_per_browse: int = DEFAULT_LIMIT
    source: dict[str, str] = field(default_factory=dict)
    """Per limit: `server`, `default` (absent), `unlimited` (server said 0), `option`, `adapted`."""

    @classmethod
    def from_values(cls, values: dict[str, ua.DataValue | None], caps: dict[str, int | None]) -> OperationLimits:
        limits = cls()
        for name in LIMIT_NODES:
            dv = values.get(name)
            raw = None
            if dv is not None and (dv.StatusCode is None or dv.StatusCode.is_good()) and dv.Value is not None:
                raw = dv.Value.Value
            if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
                value, source = raw, "server"
            elif isinstance(raw, int) and raw == 0:
                value, source = UNLIMITED_CAP, "unlimited"
            else:
                value, source = DEFAULT_LIMIT, "default"
            cap = caps.get(name)
            if cap is not None and cap < value:
                value, source = cap, "option"
            setattr(limits, name, value)
            limits.source[name] = source
        return limits

    def halve(self, name: str) -> int:
        """After BadTooManyOperations: a smaller batch, kept for the rest of the session."""
        value = max(1, getattr(self, name) // 2)
        setattr(self, name, value)
        self.source[name] = "adapted"
        return value

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_nodes_per_read": self.max_nodes_per_read,
            "max_monitored_items_per_call": self.max_monitored_items_per_call,
            "max_nodes_per_browse": self.max_nodes_per_browse,
            "source": dict(self.source),
        }


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), max(1, size))]
