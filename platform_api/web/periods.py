"""Which ledger periods a page asks the API about (days of a month, 旬, months), in the period
syntax of the summary API (`2026-11-03`, `2026-11-2旬`, `2026-11`, `2026`)."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from platform_api.web.fmt import SHANGHAI, dec

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PERIOD_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-([0-2]\d|3[01])|-[123]旬)?)?$")
BY = ("day", "xun", "month")


def today() -> date:
    return datetime.now(SHANGHAI).date()


def month_of(d: date) -> str:
    return f"{d:%Y-%m}"


def add_months(month: str, n: int) -> str:
    y, m = int(month[:4]), int(month[5:7]) + n
    while m <= 0:
        y, m = y - 1, m + 12
    while m > 12:
        y, m = y + 1, m - 12
    return f"{y:04d}-{m:02d}"


def last_complete_month(d: date | None = None) -> str:
    return add_months(month_of(d or today()), -1)


def valid_month(v: str | None, default: str) -> str:
    return v if v and MONTH_RE.match(v) else default


def valid_period(v: str | None, default: str) -> str:
    return v if v and PERIOD_RE.match(v) else default


def buckets(by: str, month: str, upto: date | None = None) -> list[tuple[str, str]]:
    """`(period, short label)` pairs: the days of `month`, the 旬 of the four months ending with it,
    or the twelve months ending with it. Days after `upto` are left out."""
    upto = upto or today()
    if by == "day":
        y, m = int(month[:4]), int(month[5:7])
        days = calendar.monthrange(y, m)[1]
        out = []
        for d in range(1, days + 1):
            day = date(y, m, d)
            if day > upto:
                break
            out.append((f"{day:%Y-%m-%d}", f"{d}"))
        return out
    if by == "xun":
        return [(f"{mo}-{k}旬", f"{int(mo[5:7])}月{'上中下'[k - 1]}旬")
                for mo in (add_months(month, -i) for i in range(3, -1, -1)) for k in (1, 2, 3)]
    return [(mo, mo) for mo in (add_months(month, -i) for i in range(11, -1, -1))]


def days_of(period: str) -> tuple[int, int]:
    """(days in the period, days in its month or year): how much of a month or year it covers."""
    if len(period) == 4:
        y = int(period)
        n = 366 if calendar.isleap(y) else 365
        return n, n
    y, m = int(period[:4]), int(period[5:7])
    month_days = calendar.monthrange(y, m)[1]
    if len(period) == 7:
        return month_days, month_days
    if period.endswith("旬"):
        k = int(period[8])
        return (10 if k < 3 else month_days - 20), month_days
    return 1, month_days


def capacity_limit(period: str, thresholds: dict[str, Any] | None) -> Decimal | None:
    """The share of the annual capacity this period may use before it counts as over capacity: the
    enterprise's monthly share (CONTRACTS §6, default 10 %) for a month, pro rata for a day or a 旬,
    its yearly warning level for a year."""
    t = thresholds or {}
    if len(period) == 4:
        return dec(t.get("year_capacity_warning")) or Decimal("1.00")
    share = dec(t.get("month_capacity_share")) or Decimal("0.10")
    n, month_days = days_of(period)
    return share * Decimal(n) / Decimal(month_days)


def over_capacity(period: str, capacity_use: Any, thresholds: dict[str, Any] | None) -> bool:
    use = dec(capacity_use)
    limit = capacity_limit(period, thresholds)
    return use is not None and limit is not None and use > limit


def bounds(month: str) -> tuple[str, str]:
    """`[first day, first day of next month)` as dates, for the API's `from`/`to`."""
    return f"{month}-01", f"{add_months(month, 1)}-01"


def day_after(d: date) -> date:
    return d + timedelta(days=1)
