"""Per-device state as announced on the retained status topic (CONTRACTS §5).

Device loops report up/down changes from the event loop while the MQTT network thread builds
the last-will payload, hence the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from devices.model import iso_ms, now_ts


class StatusBoard:
    """Latest state of every device; new devices appear as `down` until their loop reports."""

    def __init__(self, devices: Iterable[str] = (), started: float | None = None) -> None:
        self._lock = threading.Lock()
        since = now_ts() if started is None else started
        self._devices: dict[str, dict[str, Any]] = {
            name: {"state": "down", "since": iso_ms(since), "error": "not connected yet"} for name in devices
        }
        self.version = 0

    def set(self, device: str, up: bool, since: float, error: str | None) -> bool:
        """Record a state; True when it changed what would be announced."""
        entry = {"state": "up" if up else "down", "since": iso_ms(since), "error": None if up else error}
        with self._lock:
            if self._devices.get(device) == entry:
                return False
            self._devices[device] = entry
            self.version += 1
            return True

    def devices(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: dict(entry) for name, entry in self._devices.items()}

    def document(self, online: bool, dropped: Sequence[Sequence[Any]], ts: float | None = None) -> bytes:
        """The status payload: `{"online", "ts", "devices", "dropped"}`."""
        return orjson.dumps({
            "online": online,
            "ts": iso_ms(now_ts() if ts is None else ts),
            "devices": self.devices(),
            "dropped": [list(r) for r in dropped],
        })
