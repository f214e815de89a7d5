"""Template rendering with the language, the session and the formatters every page uses."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

from platform_api.web import fmt
from platform_api.web.i18n import LANG_COOKIE, translator
from platform_api.web.session import Session, language

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@lru_cache(maxsize=1)
def env() -> Environment:
    e = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                    undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    e.globals["f"] = fmt
    return e


def url_with(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters replaced (None removes one)."""
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = str(v)
    return request.url.path + ("?" + urlencode(params) if params else "")


def static_version() -> str:
    """Changes when the stylesheet or script changes, so browsers fetch the new one."""
    return str(int(max((p.stat().st_mtime for p in STATIC.iterdir()), default=0)))


def render(request: Request, template: str, session: Session | None, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    lang, remember = language(request)
    html = env().get_template(template).render(
        request=request, session=session, lang=lang, _=translator(lang),
        url_with=lambda **kw: url_with(request, **kw), static_v=static_version(), **context,
    )
    response = HTMLResponse(html, status_code=status)
    if remember:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=False)
    return response
