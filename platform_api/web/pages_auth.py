"""Login with a token, logout, and the home page that sends each role where it belongs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from platform_api.web.i18n import translator
from platform_api.web.render import render
from platform_api.web.session import COOKIE_MAX_AGE, SESSION_COOKIE, Session, current, language, lookup, safe_next

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(session: Session = Depends(current)) -> RedirectResponse:
    return RedirectResponse(session.home(), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", None, next=safe_next(next) or "", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: str = Form(""), next: str = Form("")) -> Response:
    _ = translator(language(request)[0])
    token = token.strip()
    error = None
    p = lookup(request, token) if token else None
    if not token:
        error = _("Please enter a token.")
    elif p is None:
        error = _("This token is not valid or has been revoked.")
    elif p.role == "gateway":
        error = _("A gateway token cannot sign in to the pages.")
    if error or p is None:
        return render(request, "login.html", None, status=401, next=safe_next(next) or "", error=error)
    target = safe_next(next) or Session(token, p).home()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=COOKIE_MAX_AGE, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.api_route("/logout", methods=["GET", "POST"])
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
