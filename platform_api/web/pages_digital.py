"""An enterprise's digitalization: level and score, measured rates, the transformation report (HTML
and PDF, passed through from the API) and the self-assessment questionnaire form."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from platform_api.web import periods
from platform_api.web.apiclient import Api, PageError, detail
from platform_api.web.pages_enterprise import ctx, enterprise_of
from platform_api.web.render import render
from platform_api.web.session import Session, current

router = APIRouter(include_in_schema=False)


def _year(request: Request) -> int:
    y = request.query_params.get("year", "")
    return int(y) if y.isdigit() and 2000 <= int(y) <= 2100 else periods.today().year


def can_answer(session: Session) -> bool:
    """Whether the form is offered for editing; the API decides again when it is submitted."""
    return session.principal.role in ("enterprise", "admin")


@router.get("/e/{code}/digital")
async def digital_page(code: str, request: Request, session: Session = Depends(current)) -> Response:
    year = _year(request)
    async with Api(request, session.token) as api:
        ent = await enterprise_of(api, code)
        view = await api.get(f"/enterprises/{quote(code)}/digitalization", year=year)
    return render(request, "digital.html", session, **ctx(session, ent, "digital"), year=year, view=view,
                  editable=can_answer(session))


@router.get("/e/{code}/report")
async def report(code: str, request: Request, session: Session = Depends(current)) -> Response:
    """The API's transformation report as it is (HTML page or PDF download)."""
    fmt = "pdf" if request.query_params.get("format") == "pdf" else "html"
    async with Api(request, session.token) as api:
        r = await api.request("GET", f"/enterprises/{quote(code)}/reports/transformation",
                              params={"year": _year(request), "format": fmt})
    if r.status_code != 200:
        raise PageError(r.status_code, detail(r))
    headers = {k: v for k, v in r.headers.items() if k.lower() == "content-disposition"}
    return Response(r.content, media_type=r.headers.get("content-type"), headers=headers)


def answers_from_form(q: dict[str, Any], form: FormData) -> dict[str, Any]:
    """The API's `{answers, scenarios}` from the posted form: radio = option key, checkboxes = list
    of keys, rate = percent (0-100), scenario = grade; unanswered items are left out."""
    answers: dict[str, Any] = {}
    for dim in q.get("dimensions", []):
        for item in dim.get("items", []):
            if item.get("measured"):
                continue
            name = f"a.{item['id']}"
            if item["kind"] == "multi":
                answers[item["id"]] = [v for v in form.getlist(name) if isinstance(v, str)]
            elif item["kind"] == "rate":
                raw = str(form.get(name) or "").strip()
                if raw:
                    try:
                        answers[item["id"]] = float(raw) / 100
                    except ValueError:
                        answers[item["id"]] = raw  # the API names the field and what is allowed
            else:
                v = form.get(name)
                if isinstance(v, str) and v:
                    answers[item["id"]] = v
    scenarios: dict[str, int | None] = {}
    for s in q.get("scenarios", {}).get("items", []):
        v = form.get(f"s.{s['id']}")
        if isinstance(v, str) and v.isdigit():
            scenarios[s["id"]] = int(v)
    return {"answers": answers, "scenarios": scenarios}


async def _form(request: Request, session: Session, code: str, year: int, *, error: str | None = None,
                saved: bool = False, posted: dict[str, Any] | None = None, status: int = 200) -> Response:
    async with Api(request, session.token) as api:
        ent = await enterprise_of(api, code)
        q, stored = await asyncio.gather(api.get("/digitalization/questionnaire"),
                                         api.get(f"/enterprises/{quote(code)}/assessment", year=year))
    current_answers = (posted or stored).get("answers") or {}
    current_scenarios = (posted or stored).get("scenarios") or {}
    measured = {i["id"]: i for i in (stored.get("result") or {}).get("items", []) if i.get("source") == "measured"}
    return render(request, "assessment.html", session, status=status, **ctx(session, ent, "digital"), year=year,
                  q=q, stored=stored, answers=current_answers, scenarios=current_scenarios, measured=measured,
                  editable=can_answer(session), error=error, saved=saved)


@router.get("/e/{code}/assessment")
async def assessment_form(code: str, request: Request, session: Session = Depends(current)) -> Response:
    return await _form(request, session, code, _year(request), saved=request.query_params.get("saved") == "1")


@router.post("/e/{code}/assessment")
async def assessment_submit(code: str, request: Request, session: Session = Depends(current)) -> Response:
    form = await request.form()
    if form.get("csrf") != session.csrf:
        raise PageError(403, "the form is stale or not from this site; reload the page and submit again")
    year = _year(request)
    async with Api(request, session.token) as api:
        q = await api.get("/digitalization/questionnaire")
        body = answers_from_form(q, form)
        r = await api.put(f"/enterprises/{quote(code)}/assessment", body, year=year)
    if r.status_code == 200:
        return RedirectResponse(f"/e/{quote(code)}/assessment?year={year}&saved=1", status_code=303)
    if r.status_code in (401, 403, 404):
        raise PageError(r.status_code, detail(r))
    return await _form(request, session, code, year, error=detail(r), posted=body, status=r.status_code)
