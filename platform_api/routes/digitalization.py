"""Digitalization: equipment register, key processes, self-assessment, measured rates, the
transformation report (HTML/PDF) and the regulators' regional figures.

Access follows CONTRACTS §7: an enterprise reads and writes its own data, regulators read (only
their district when limited to one), another enterprise's data is 404."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from platform_api.auth import Principal, Scope, note_access, read_scope, require_roles, write_scope
from platform_api.digitalization import inputs as inp
from platform_api.digitalization import service, store
from platform_api.digitalization.assessment import AnswerError, check_answers
from platform_api.digitalization.fonts import FontMissing
from platform_api.digitalization.metrics import RegisteredDevice, binding_keys
from platform_api.digitalization.questionnaire import EDITIONS, QuestionnaireError, load
from platform_api.digitalization.schemas import (
    AssessmentIn,
    DeviceRowIn,
    KeyProcessIn,
    key_process_problems,
    register_problems,
)
from platform_api.routes.common import ERRORS, WRITE_ERRORS
from platform_api.schemas import ErrorOut

router = APIRouter(tags=["digitalization"])

Year = Query(None, ge=inp.MIN_YEAR, le=inp.MAX_YEAR, description="calendar year (Asia/Shanghai); default: this year")


def _year(year: int | None) -> int:
    return year if year is not None else inp.current_year(service.now_ms())


def _refuse(problems: list[str]) -> None:
    if problems:
        raise HTTPException(422, "; ".join(problems))


# -- equipment register ----------------------------------------------------------------------------


@router.put("/enterprises/{code}/devices", responses=WRITE_ERRORS)
def put_register(
    request: Request, rows: list[DeviceRowIn] = Body(..., max_length=5000), scope: Scope = Depends(write_scope)
) -> list[dict[str, Any]]:
    """Replace the equipment register: every piece of production equipment, networked or not.
    Rows bound to a telemetry device (`gateway`/`device`) count as networked when it delivers."""
    _refuse(register_problems(rows))
    return store.set_register(request.app.state.engine, scope.code, [r.model_dump() for r in rows])


@router.get("/enterprises/{code}/devices", responses=ERRORS)
def get_devices(request: Request, scope: Scope = Depends(read_scope)) -> list[dict[str, Any]]:
    """The register rows (in register order), then devices seen in telemetry or status that no row
    stands for. Each row has the register fields (`name`, `kind`, `production`, `digital`, `note`,
    `registered_at`; null when not registered) and the telemetry fields (`profile`, `state`,
    `since`, `error`, `first_seen`; null when never seen)."""
    from platform_api.telemetry import query

    with request.app.state.engine.connect() as conn:
        seen = query.devices(conn, scope.code)
        register = store.get_register(conn, scope.code)
    by_key = {(d["gateway"], d["device"]): d for d in seen}
    empty_t = {"profile": None, "state": None, "since": None, "error": None, "first_seen": None}
    empty_r = {"name": None, "kind": None, "production": None, "digital": None, "note": None, "registered_at": None}
    used: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for r in register:
        keys = [k for k in binding_keys(RegisteredDevice(r["name"], gateway=r["gateway"], device=r["device"]), by_key)
                if k in by_key]
        if not keys:
            out.append({**empty_t, **r, "registered": True})
        for k in keys:
            used.add(k)
            out.append({**by_key[k], **r, "gateway": k[0], "device": k[1], "registered": True})
    for k, d in by_key.items():
        if k not in used:
            out.append({**empty_r, **d, "registered": False})
    return out


# -- key processes ---------------------------------------------------------------------------------


@router.put("/enterprises/{code}/key-processes", responses=WRITE_ERRORS)
def put_key_processes(
    request: Request, rows: list[KeyProcessIn] = Body(..., max_length=500), scope: Scope = Depends(write_scope)
) -> list[dict[str, Any]]:
    """Replace the declared key processes (关键工序) with their control and devices."""
    engine = request.app.state.engine
    with engine.connect() as conn:
        names = {r["name"] for r in store.get_register(conn, scope.code)}
    _refuse(key_process_problems(rows, names))
    return store.set_key_processes(engine, scope.code, [r.model_dump() for r in rows])


@router.get("/enterprises/{code}/key-processes", responses=ERRORS)
def get_key_processes(request: Request, scope: Scope = Depends(read_scope)) -> list[dict[str, Any]]:
    with request.app.state.engine.connect() as conn:
        return store.get_key_processes(conn, scope.code)


# -- self-assessment -------------------------------------------------------------------------------


def _assessment(request: Request, scope: Scope, year: int) -> dict[str, Any]:
    engine = request.app.state.engine
    with engine.connect() as conn:
        stored = store.get_answers(conn, scope.code, year)
    q = service.questionnaire_for(year)
    data = inp.load(engine, scope.code, year, service.now_ms())
    result = service.score(q, data, stored, year).as_dict()
    base = stored or {"year": year, "edition": q.edition, "answers": {}, "scenarios": {}, "updated_at": None,
                      "author": None}
    return {**base, "submitted": stored is not None, "result": result}


@router.put("/enterprises/{code}/assessment", responses=WRITE_ERRORS)
def put_assessment(
    request: Request, body: AssessmentIn, year: int | None = Year, scope: Scope = Depends(write_scope)
) -> dict[str, Any]:
    """Store the year's self-assessment answers (replacing earlier ones); answered with the score."""
    y = _year(year)
    q = service.questionnaire_for(y)
    try:
        answers, scenarios = check_answers(q, body.answers, body.scenarios)
    except AnswerError as e:
        raise HTTPException(422, str(e)) from None
    store.set_answers(request.app.state.engine, scope.code, y, q.edition, answers, scenarios, scope.author)
    return _assessment(request, scope, y)


@router.get("/enterprises/{code}/assessment", responses=ERRORS)
def get_assessment(request: Request, year: int | None = Year, scope: Scope = Depends(read_scope)) -> dict[str, Any]:
    """The stored answers of the year (empty when none) and their score with the measured rates."""
    return _assessment(request, scope, _year(year))


# -- measured figures and report -------------------------------------------------------------------


@router.get("/enterprises/{code}/digitalization", responses=ERRORS)
def digitalization(request: Request, year: int | None = Year, scope: Scope = Depends(read_scope)) -> dict[str, Any]:
    """Measured rates of the year and per month, the assessment (score, level, dimension scores),
    the gap to the next level and recommendations."""
    return service.enterprise_view(request.app.state.engine, request.app.state.ledger, scope.enterprise, _year(year))


REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the report", "content": {
        "text/html": {"schema": {"type": "string"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
    **ERRORS,
    503: {"model": ErrorOut, "description": "the Chinese font for charts and PDF is not installed"},
}


@router.get("/enterprises/{code}/reports/transformation", response_class=Response, responses=REPORT_RESPONSES)
def transformation_report(
    request: Request,
    year: int | None = Year,
    format: str = Query("html", pattern="^(html|pdf)$", description="html or pdf"),
    scope: Scope = Depends(read_scope),
) -> Response:
    """数字化转型报告: level and score by dimension, measured rates with monthly trends, gaps to the
    next level with recommendations, comparison with the district average."""
    from platform_api.digitalization import report

    y = _year(year)
    try:
        data = report.build(request.app.state.engine, request.app.state.ledger, scope.enterprise, y)
        if format == "pdf":
            from platform_api.digitalization.report_pdf import render_pdf

            name = f"{scope.code}-{y}-transformation.pdf"
            return Response(render_pdf(data), media_type="application/pdf",
                            headers={"Content-Disposition": f"inline; filename=\"{name}\"; "
                                                            f"filename*=UTF-8''{quote(name)}"})
        return HTMLResponse(report.render_html(data))
    except FontMissing as e:
        raise HTTPException(503, str(e)) from None


# -- region and questionnaire ----------------------------------------------------------------------


@router.get("/regulator/digitalization", responses=ERRORS)
def regulator_digitalization(
    request: Request,
    year: int | None = Year,
    district: str | None = Query(None, max_length=64),
    p: Principal = Depends(require_roles("admin", "regulator")),
) -> dict[str, Any]:
    """企业上云率 (enterprises with a gateway online or delivering in the year / enterprises in
    scope), enterprises at level >= 2, districts ranked by average score, enterprises ranked."""
    from platform_api.routes.regulator import _scope_enterprises

    enterprises = _scope_enterprises(request, p, district)
    note_access(request, [e["code"] for e in enterprises] or [None], "read")
    return service.region_view(request.app.state.engine, enterprises, _year(year), district)


@router.get("/digitalization/questionnaire", responses=ERRORS)
def questionnaire(
    edition: str = Query("2024", max_length=16, description=f"one of {', '.join(sorted(EDITIONS))}"),
    p: Principal = Depends(require_roles("admin", "regulator", "enterprise")),
) -> dict[str, Any]:
    """The self-assessment form: dimensions, items with options and weights, level bands, scenarios."""
    try:
        return load(edition).as_dict()
    except QuestionnaireError as e:
        raise HTTPException(422, f"edition: {e.problems[0]}") from None
