"""Durations as written in config files (`500ms`, `1s`, `5m`, `2h`, `7d`, or bare seconds)."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds for a duration; `ValueError` says what is allowed."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a bool")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration (allowed: e.g. 500ms, 1s, 5m, 2h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]
