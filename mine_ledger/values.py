"""Value parsing and formatting shared by every module.

Quantities are kept as integer kilograms (and money as integer fen) inside the database because
SQLite has no exact decimal type; at the edges they are ``Decimal`` with 3 (2) places, never float.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from mine_ledger.errors import ValidationError

TZ = ZoneInfo("Asia/Shanghai")
Q3 = Decimal("0.001")
Q2 = Decimal("0.01")
MAX_ABS_KG = 10**15  # 1e12 t: far above any real figure, keeps BIGINT sums safe


def parse_decimal(value: Any, field: str, places: int = 3) -> Decimal:
    """Exact decimal from a string, int or Decimal (float accepted via its shortest repr)."""
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"{field}: a number is required", field=field)
    try:
        if isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, Decimal | int):
            d = Decimal(value)
        elif isinstance(value, str):
            d = Decimal(value.strip().replace(",", "")) if value.strip() else Decimal("NaN")
        else:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{field}: {value!r} is not a number", field=field) from None
    if not d.is_finite():
        raise ValidationError(f"{field}: {value!r} is not a number", field=field)
    q = Decimal(1).scaleb(-places)
    rounded = d.quantize(q)
    if rounded != d:
        raise ValidationError(f"{field}: {value!r} has more than {places} decimal places", field=field)
    return rounded


def qty(value: Any, field: str, *, positive: bool = False, non_negative: bool = False) -> Decimal:
    """A quantity in tonnes with 3 places (kg)."""
    d = parse_decimal(value, field, 3)
    if positive and d <= 0:
        raise ValidationError(f"{field}: must be greater than 0 (got {d})", field=field)
    if non_negative and d < 0:
        raise ValidationError(f"{field}: must not be negative (got {d})", field=field)
    if abs(d) * 1000 > MAX_ABS_KG:
        raise ValidationError(f"{field}: {d} is out of range", field=field)
    return d


def money(value: Any, field: str) -> Decimal:
    """An amount in yuan with 2 places."""
    d = parse_decimal(value, field, 2)
    if d < 0:
        raise ValidationError(f"{field}: must not be negative (got {d})", field=field)
    return d


def to_kg(d: Decimal) -> int:
    return int(d * 1000)


def from_kg(kg: int | None) -> Decimal:
    return (Decimal(int(kg or 0)) / 1000).quantize(Q3)


def fmt_t(d: Decimal | int) -> str:
    """Fixed-point string with 3 places (``Decimal`` or kg integer)."""
    if isinstance(d, int):
        d = from_kg(d)
    return str(d.quantize(Q3))


def parse_time(value: Any, field: str) -> datetime:
    """Aware datetime; naive times and bare dates are Asia/Shanghai."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time(0))
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"{field}: {value!r} is not an ISO 8601 time (e.g. 2026-11-03T08:00:00+08:00)", field=field
            ) from None
    else:
        raise ValidationError(f"{field}: a time is required (ISO 8601)", field=field)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=TZ)
    return dt


def opt_time(value: Any, field: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_time(value, field)


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def fmt_time(dt: datetime | None) -> str | None:
    """ISO 8601 in Asia/Shanghai (what users read)."""
    if dt is None:
        return None
    return dt.astimezone(TZ).isoformat()


def canon_time(dt: datetime) -> str:
    """UTC, microseconds, ``Z``: the one spelling used inside hashes."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def local_date(dt: datetime) -> date:
    return dt.astimezone(TZ).date()


def local_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=TZ)


def day_start(dt: datetime) -> datetime:
    return local_midnight(local_date(dt))


def month_start(dt: datetime) -> datetime:
    d = local_date(dt)
    return local_midnight(d.replace(day=1))


def add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


def next_day(dt: datetime) -> datetime:
    return local_midnight(local_date(dt) + timedelta(days=1))


def parse_clock(value: Any, field: str) -> int:
    """``HH:MM`` (``24:00`` allowed) as minutes after midnight."""
    if not isinstance(value, str):
        raise ValidationError(f"{field}: a time of day HH:MM is required", field=field)
    try:
        hh, mm = value.strip().split(":")[:2]
        h, m = int(hh), int(mm)
    except ValueError:
        raise ValidationError(f"{field}: {value!r} is not a time of day HH:MM", field=field) from None
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValidationError(f"{field}: {value!r} is not a time of day HH:MM", field=field)
    return h * 60 + m


def fmt_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text; decimals and times must already be strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canon_default)


def _canon_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime):
        return canon_time(o)
    raise TypeError(f"not canonical: {type(o).__name__}")
