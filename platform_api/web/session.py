"""Who is looking at a page: the token kept in an HttpOnly cookie after the login form.

The pages never decide access themselves: every figure comes from the API called with this same
token (see `apiclient`), so a page shows exactly what the API would answer that user.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request

from platform_api.auth import Principal
from platform_api.web.i18n import LANG_COOKIE, pick

SESSION_COOKIE = "mg_session"
COOKIE_MAX_AGE = 12 * 3600


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to the login form."""

    def __init__(self, next_url: str, clear: bool = False) -> None:
        self.next_url = next_url
        self.clear = clear


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    principal: Principal

    @property
    def csrf(self) -> str:
        """Form token for state-changing posts: derived from the session token, so only a page
        served to this session can carry it."""
        return hmac.new(self.token.encode(), b"minegate-form", hashlib.sha256).hexdigest()[:32]

    def home(self) -> str:
        p = self.principal
        return f"/e/{quote(p.enterprise)}" if p.role == "enterprise" and p.enterprise else "/regulator"


def language(request: Request) -> tuple[str, bool]:
    return pick(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def here(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query else "")


def lookup(request: Request, token: str) -> Principal | None:
    p: Principal | None = request.app.state.tokens.lookup(token)
    return p


def current(request: Request) -> Session:
    """Dependency of every page: the session, or a redirect to the login form."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(here(request))
    p = lookup(request, token)
    if p is None or p.role == "gateway":
        raise LoginRequired(here(request), clear=True)
    request.state.principal = p
    return Session(token, p)


def safe_next(url: str | None) -> str | None:
    """Only a path on this site (never `//host` or a scheme) may follow the login."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return url
