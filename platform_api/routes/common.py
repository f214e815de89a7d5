"""Pieces every route module shares: error responses, paging, time and duration parsing."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Path, Query, Request
from sqlalchemy.engine import Engine

from platform_api.schemas import ErrorOut

SHANGHAI = ZoneInfo("Asia/Shanghai")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not valid JSON"},
    401: {"model": ErrorOut, "description": "missing, wrong or revoked token"},
    403: {"model": ErrorOut, "description": "this role may not do this"},
    404: {"model": ErrorOut, "description": "not found (or not yours: existence is never revealed)"},
    422: {"model": ErrorOut, "description": "refused input; `detail` names the field and what is allowed"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body is not valid JSON"},
    **ERRORS,
    409: {"model": ErrorOut, "description": "conflicts with existing state"},
}

MIN_YEAR, MAX_YEAR = 1900, 2199
"""Times and periods outside these years are refused: they are typing mistakes, not mine data."""


def db_id() -> Any:
    """A path id that fits a BIGINT: larger numbers are refused (422) rather than reaching the database."""
    return Path(..., ge=1, le=2**62, description="id")

Limit = Query(100, ge=1, le=10_000, description="page size")
Offset = Query(0, ge=0, le=10_000_000, description="rows to skip")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


def engine(request: Request) -> Engine:
    e: Engine = request.app.state.engine
    return e


def parse_time(value: str, field: str) -> datetime:
    """ISO 8601; without an offset the time is Asia/Shanghai, as everywhere in the platform."""
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(
            422, f"{field}: {value!r} is not a time (allowed: ISO 8601, e.g. 2026-11-03T08:00+08:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHANGHAI)
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise HTTPException(422, f"{field}: {value!r} is out of range (allowed: years {MIN_YEAR}-{MAX_YEAR})")
    return dt


def to_ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def parse_step(value: str) -> int:
    """`500ms`, `30s`, `5m`, `1h`, `1d`, `1w` or bare seconds → milliseconds."""
    m = _DURATION.match(value)
    if not m:
        raise HTTPException(422, f"step: {value!r} is not a duration (allowed: e.g. 30s, 5m, 1h, 1d)")
    ms = round(float(m.group(1)) * _UNITS[m.group(2)] * 1000)
    if ms < 1 or ms > 366 * 86400 * 1000:
        raise HTTPException(422, f"step: {value!r} out of range (allowed: 1ms .. 366d)")
    return ms
