"""The digitalization figures of one enterprise and of a region, put together from measured rates,
stored answers and the questionnaire."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from platform_api.digitalization import inputs as inp
from platform_api.digitalization import store
from platform_api.digitalization.assessment import Assessment, assess, check_answers
from platform_api.digitalization.metrics import EnterpriseFigures, Inputs, measure, region, shares_for_assessment
from platform_api.digitalization.questionnaire import DEFAULT_EDITION, Questionnaire, load


def now_ms() -> int:
    return round(time.time() * 1000)


def questionnaire_for(year: int) -> Questionnaire:
    """The edition that applies to a year (one edition so far)."""
    return load(DEFAULT_EDITION)


def score(q: Questionnaire, inputs: Inputs, stored: Mapping[str, Any] | None, year: int) -> Assessment:
    """Stored answers (re-checked: an answer the current edition no longer knows is ignored) with the
    measured rates of the year."""
    answers: dict[str, Any] = {}
    scenarios: dict[str, int] = {}
    if stored:
        for k, v in (stored.get("answers") or {}).items():
            try:
                answers.update(check_answers(q, {k: v})[0])
            except ValueError:
                continue
        for k, v in (stored.get("scenarios") or {}).items():
            try:
                scenarios.update(check_answers(q, None, {k: v})[1])
            except ValueError:
                continue
    return assess(q, answers, shares_for_assessment(inputs, inp.month_periods(year)), scenarios)


def enterprise_view(engine: Engine, ledger: Any, enterprise: Mapping[str, Any], year: int,
                    now: int | None = None) -> dict[str, Any]:
    """`GET /enterprises/{code}/digitalization`: measured rates (year and months), assessment, gaps."""
    now = now_ms() if now is None else now
    code = str(enterprise["code"])
    data = inp.load(engine, code, year, now, ledger=ledger)
    with engine.connect() as conn:
        stored = store.get_answers(conn, code, year)
    q = questionnaire_for(year)
    a = score(q, data, stored, year)
    whole = inp.year_period(year)
    m = measure(data, whole, inp.month_periods(year), now)
    monthly = m.pop("monthly")
    return {
        "enterprise": {"code": code, "name": enterprise.get("name"), "district": enterprise.get("district"),
                       "kind": enterprise.get("kind")},
        "year": year, "edition": q.edition,
        "from": _iso(whole.start_ms), "to": _iso(whole.end_ms),
        "metrics": m, "monthly": monthly,
        "assessment": {**a.as_dict(), "submitted": stored is not None,
                       "updated_at": stored["updated_at"] if stored else None},
    }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, inp.SHANGHAI).isoformat()


def figures(engine: Engine, enterprises: Sequence[Mapping[str, Any]], year: int,
            now: int | None = None) -> list[EnterpriseFigures]:
    """Per enterprise: on the cloud or not, score and level (None when no answers are stored)."""
    now = now_ms() if now is None else now
    codes = [str(e["code"]) for e in enterprises]
    q = questionnaire_for(year)
    with engine.connect() as conn:
        stored = store.get_answers_many(conn, codes, year)
        online = inp.gateways_online(conn, codes) if year == inp.current_year(now) else set()
    out = []
    for e in enterprises:
        code = str(e["code"])
        data = inp.load(engine, code, year, now)
        delivered = any(a.slots > 0 for per in data.activity.values() for a in per.values())
        shares = shares_for_assessment(data, inp.month_periods(year))
        a = score(q, data, stored.get(code), year) if code in stored else None
        out.append(EnterpriseFigures(
            code=code, name=str(e.get("name") or code), district=e.get("district"),
            on_cloud=delivered or code in online, score=a.total if a else None,
            level=(a.level or 0) if a else None,
            networking=shares["networking_rate"], digitalization=shares["digitalization_rate"]))
    return out


def region_view(engine: Engine, enterprises: Sequence[Mapping[str, Any]], year: int,
                district: str | None = None, now: int | None = None) -> dict[str, Any]:
    """`GET /regulator/digitalization`: 企业上云率, level >= 2 count, districts ranked."""
    return {"year": year, "district": district, **region(figures(engine, enterprises, year, now))}


def level_for(enterprise_code: str, year: int, *, engine: Engine, now: int | None = None) -> int | None:
    """The assessed level of an enterprise in a year: 1-4, 0 when assessed but below level 1, None
    when no self-assessment is stored for that year."""
    got = figures(engine, [{"code": enterprise_code}], year, now)
    return got[0].level if got else None


def overview_hook(engine: Engine) -> Any:
    """The regulator overview's `digitalization(code, period)` hook: the level of the period's year."""

    def hook(code: str, period: str) -> int | None:
        try:
            year = int(str(period)[:4])
        except ValueError:
            return None
        if not inp.MIN_YEAR <= year <= inp.MAX_YEAR:
            return None
        return level_for(code, year, engine=engine)

    return hook
