"""Digitalization metrics, the MIIT SME self-assessment and transformation reports.

`install(app)` adds the feature to a platform app: its tables, its routes, and the regulator
overview's digitalization level (`level_for`)."""

from __future__ import annotations

from typing import Any

from platform_api.digitalization.service import level_for, overview_hook

__all__ = ["install", "level_for"]


def install(app: Any, prefix: str = "/api/v1") -> None:
    """Create the tables, include the routes and fill the overview hook. Call it before the
    telemetry routes are included: the first route that matches serves a request, and the
    register-aware `GET /enterprises/{code}/devices` here returns every field of the
    telemetry-only listing plus the register's."""
    from platform_api.digitalization import store
    from platform_api.routes import digitalization as routes

    store.create_tables(app.state.engine)
    app.include_router(routes.router, prefix=prefix)
    app.state.digitalization = overview_hook(app.state.engine)
