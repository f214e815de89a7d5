"""How figures and times look on the pages (the API's values are shown, never recomputed)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def dec(v: Any) -> Decimal | None:
    if v is None or v == "":
        return None
    try:
        return Decimal(str(v))
    except InvalidOperation:
        return None


def total(v: Any) -> Decimal | None:
    """The sum of a per-product mapping (`{"raw": "12.000", ...}`), or the figure itself."""
    if isinstance(v, dict):
        values = [d for d in (dec(x) for x in v.values()) if d is not None]
        return sum(values, Decimal("0.000")) if values else Decimal("0.000")
    return dec(v)


def tonnes(v: Any, places: int = 3) -> str:
    """`12,345.678`; a missing figure is an em dash."""
    d = total(v)
    if d is None:
        return "—"
    return f"{d:,.{places}f}"


def plain(v: Any) -> str:
    """The decimal as the API gives it (for data attributes and exports)."""
    d = total(v)
    return "" if d is None else f"{d:.3f}"


def pct(v: Any, places: int = 1) -> str:
    if v is None:
        return "—"
    try:
        return f"{float(v) * 100:.{places}f}%"
    except (TypeError, ValueError):
        return "—"


def parse_time(v: Any) -> datetime | None:
    if not v:
        return None
    try:
        dt = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.replace(tzinfo=SHANGHAI) if dt.tzinfo is None else dt


def local(v: Any, seconds: bool = False) -> str:
    """An API time as Beijing time, `2026-11-03 08:00`."""
    dt = parse_time(v)
    if dt is None:
        return "—"
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def next_day(v: Any) -> str:
    """The Beijing date after an API time, `2026-11-04`: the end of a one-day range."""
    dt = parse_time(v)
    if dt is None:
        return ""
    return (dt.astimezone(SHANGHAI).date() + timedelta(days=1)).isoformat()


def age(v: Any, now: datetime | None = None) -> str:
    """`5 s`, `3 min`, `2 h`, `4 d` since the time."""
    dt = parse_time(v)
    if dt is None:
        return "—"
    secs = max(0.0, ((now or datetime.now(SHANGHAI)) - dt).total_seconds())
    if secs < 90:
        return f"{secs:.0f} s"
    if secs < 5400:
        return f"{secs / 60:.0f} min"
    if secs < 172800:
        return f"{secs / 3600:.0f} h"
    return f"{secs / 86400:.0f} d"


def value(v: Any) -> str:
    """A telemetry value: numbers with sensible places, booleans as 1/0 words, text as is."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, int) or (float(v).is_integer() and abs(v) >= 1000):
            return f"{v:,.0f}" if abs(v) >= 10000 else str(int(v))
        a = abs(v)
        places = 1 if a >= 100 else 2 if a >= 1 else 3
        return f"{v:.{places}f}"
    return str(v)
