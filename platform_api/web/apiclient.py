"""The pages' only source of data: the platform's own API, called in-process with the user's token.

Going through the API rather than the services keeps one place for authorization (an
enterprise's page of another enterprise is the API's 404) and makes every figure on a page the
one the API gives for the same question.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request

from platform_api.app import API_PREFIX


class PageError(Exception):
    """An API answer a page cannot show: 401 (to the login), 403, 404, 422 and the rest."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:300]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:300]


class Api:
    """`async with Api(request, token) as api: await api.get("/enterprises")`."""

    def __init__(self, request: Request, token: str) -> None:
        transport = httpx.ASGITransport(app=request.app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(
            transport=transport, base_url="http://platform.internal" + API_PREFIX,
            headers={"Authorization": f"Bearer {token}"}, timeout=120.0,
        )

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        return await self._client.request(method, path, params=clean, json=json)

    async def get(self, path: str, **params: Any) -> Any:
        """The JSON of a 200 answer; any other answer raises `PageError` with the API's detail."""
        r = await self.request("GET", path, params=params)
        if r.status_code != 200:
            raise PageError(r.status_code, _detail(r))
        return r.json()

    async def get_or(self, default: Any, path: str, **params: Any) -> Any:
        """Like `get`, but a 403/404/422 gives `default` (an optional panel of a page)."""
        r = await self.request("GET", path, params=params)
        if r.status_code in (403, 404, 422):
            return default
        if r.status_code != 200:
            raise PageError(r.status_code, _detail(r))
        return r.json()

    async def put(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return await self.request("PUT", path, params=params, json=body)


def detail(r: httpx.Response) -> str:
    return _detail(r)
