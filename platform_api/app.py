"""The platform's FastAPI application: `create_app(settings)` wires storage, auth and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mine_ledger import Conflict, Ledger, LedgerError, NotFound, ValidationError
from platform_api import db
from platform_api.auth import AuditLog, TokenCache
from platform_api.settings import PlatformSettings

log = logging.getLogger("minegate.platform")

API_PREFIX = "/api/v1"


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        # a discriminated union adds the tag name to the path: keep it, it tells which kind
        return f"{where}." + ".".join(rest) if rest else where
    return ".".join(parts)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        msg = e.get("msg", "invalid")
        ctx = e.get("ctx") or {}
        if "expected" in ctx:
            msg += f" (allowed: {ctx['expected']})"
        elif "pattern" in ctx:
            msg += f" (allowed: {ctx['pattern']})"
        errors.append({"field": _field_path(tuple(e.get("loc", ()))), "message": msg})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = "body: not valid JSON (allowed: a JSON document in UTF-8)"
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


def _ledger_error(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, LedgerError)
        body: dict[str, Any] = {"detail": str(exc)}
        if exc.field:
            body["field"] = exc.field
        if exc.errors:
            body["errors"] = exc.errors
        return JSONResponse(body, status_code=status)

    return handler


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": f"internal error ({exc.__class__.__name__})"}, status_code=500)


def digitalization_unavailable(code: str, period: str) -> Any:
    """Hook for the digitalization level of an enterprise (a later feature); None = not assessed."""
    return None


def create_app(settings: PlatformSettings | None = None, *, ledger: Ledger | None = None) -> FastAPI:
    """Build the app. Storage is ready when this returns (tables created, ledger migrated);
    the lifespan starts the background work: MQTT ingest, alarm delays, scheduled jobs."""
    settings = settings or PlatformSettings()
    engine = db.make_engine(settings.database_url)
    if ledger is None:
        ledger = Ledger(engine, signing_key=str(settings.signing_key_path) if settings.signing_key_path else None)
        ledger.migrate()
    db.create_tables(engine)

    from platform_api.jobs import Jobs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_every(1.0, app.state.audit.flush), name="audit-flush")]
        tasks.append(asyncio.create_task(_every(1.0, app.state.alarm_tick), name="alarm-delays"))
        if settings.jobs_enabled:
            tasks.append(asyncio.create_task(app.state.jobs.loop(), name="jobs"))
        consumer = None
        if settings.mqtt_url:
            from platform_api.ingest.mqtt_consumer import MqttConsumer

            consumer = MqttConsumer(
                engine, settings.mqtt_url, group=settings.mqtt_group, client_id=settings.mqtt_client_id,
                batch_max=settings.ingest_batch_max, flush_ms=settings.ingest_flush_ms, influx=app.state.influx,
            )
            await asyncio.to_thread(consumer.start, 5.0)
            app.state.consumer = consumer
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            if consumer is not None:
                await asyncio.to_thread(consumer.stop)
            await asyncio.to_thread(app.state.audit.flush)
            if app.state.influx is not None:
                app.state.influx.close()

    app = FastAPI(
        title="minegate platform",
        version="1",
        description="Mine supervision: enterprises, the 产运销存 ledger, telemetry, alarms, regulator views. "
        "Every call needs `Authorization: Bearer <token>`. Times without an offset are Asia/Shanghai.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.ledger = ledger
    app.state.tokens = TokenCache(engine)
    app.state.audit = AuditLog(engine, settings.audit)
    app.state.consumer = None
    app.state.digitalization = digitalization_unavailable
    app.state.jobs = Jobs(engine, ledger, settings)
    app.state.influx = None
    if settings.influx_url:
        from platform_api.telemetry.influx import InfluxForwarder

        app.state.influx = InfluxForwarder(
            settings.influx_url, org=settings.influx_org, bucket=settings.influx_bucket, token=settings.influx_token
        )

    def alarm_tick() -> None:
        from platform_api.alarms.store import run_ticks
        from platform_api.telemetry.store import now_ms

        run_ticks(engine, now_ms())

    app.state.alarm_tick = alarm_tick

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ValidationError, _ledger_error(422))
    app.add_exception_handler(NotFound, _ledger_error(404))
    app.add_exception_handler(Conflict, _ledger_error(409))
    app.add_exception_handler(LedgerError, _ledger_error(400))
    app.add_exception_handler(Exception, _unexpected)

    @app.middleware("http")
    async def audit_mw(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        noted = getattr(request.state, "audit", None)
        if noted is not None:
            enterprises, action = noted
            app.state.audit.record(
                getattr(request.state, "principal", None), request.method, request.url.path,
                enterprises, action, response.status_code,
            )
        return response

    from platform_api.digitalization import install as install_digitalization
    from platform_api.routes import (
        alarms,
        audit,
        enterprises,
        ingest_status,
        ledger_routes,
        meters,
        regulator,
        system,
        telemetry,
    )
    from platform_api.web import install as install_web

    install_digitalization(app, API_PREFIX)  # its GET .../devices lists telemetry devices with the equipment register
    for r in (enterprises, ledger_routes, meters, telemetry, ingest_status, alarms, regulator, audit, system):
        app.include_router(r.router, prefix=API_PREFIX)
    install_web(app)  # the web pages at `/`, reading through the API above
    return app


async def _every(seconds: float, fn: Callable[[], Any]) -> None:
    """Run a blocking housekeeping call periodically; an error is logged and retried next time."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(fn)
        except Exception:
            log.exception("background task %s failed", getattr(fn, "__name__", fn))


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` with several worker processes (settings from the environment)."""
    return create_app(PlatformSettings())
