"""Web pages for regulators and enterprises, served by the platform at `/`.

Server-rendered (Jinja2) in Chinese with an English switch (`?lang=en`, kept in a cookie); a
small script of our own refreshes the live values; charts are SVG made on the server; nothing is
loaded from another site. Every figure comes from the platform's own API, called in-process with
the signed-in user's token, so the pages show what the API answers that user and nothing more.

`install(app)` mounts the pages, the static files and the error pages on a platform app.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from platform_api.web.apiclient import PageError
from platform_api.web.render import STATIC, render
from platform_api.web.session import SESSION_COOKIE, LoginRequired, current

__all__ = ["install"]


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    response = RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)
    if exc.clear:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    if exc.status == 401:
        return await _login_required(request, LoginRequired(request.url.path, clear=True))
    try:
        session: Any = current(request)
    except LoginRequired:
        session = None
    return render(request, "error.html", session, status=exc.status, status_code=exc.status, detail=exc.detail)


def install(app: Any) -> None:
    import logging

    from platform_api.web import pages_auth, pages_digital, pages_enterprise, pages_regulator

    # the pages' in-process API calls would each log a line at INFO; the API's audit log keeps them
    if logging.getLogger("httpx").getEffectiveLevel() < logging.WARNING:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageError, _page_error)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    for module in (pages_auth, pages_regulator, pages_enterprise, pages_digital):
        app.include_router(module.router)
