"""Helpers of the web page tests: the seeded site, screenshots, logging in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from platform_api.demo_data.seed import DemoTokens

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    url: str
    tokens: DemoTokens
    app: Any

    def api(self, token: str, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.url}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"},
                      timeout=60)
        assert r.status_code == 200, r.text
        return r.json()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


def login(page: Any, site: Site, token: str) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
