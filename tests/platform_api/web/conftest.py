"""A seeded platform served by uvicorn on a free port, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

# the helpers live beside the tests; with --import-mode=importlib nothing adds this folder itself
sys.path.insert(0, str(Path(__file__).parent))

from web_support import CHROMIUM, CHROMIUM_ARGS, Site, free_port

from platform_api.app import create_app
from platform_api.demo_data.seed import seed
from platform_api.settings import PlatformSettings


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    app = create_app(PlatformSettings(database_url=f"sqlite:///{tmp}/platform.db", jobs_enabled=False,
                                      signing_key_path=tmp / "key.pem"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokens = seed(app, months=2, telemetry_hours=2)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the platform did not start"
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", tokens, app)
    server.should_exit = True
    thread.join(20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module scope: Playwright's sync API keeps an event loop running in this thread until it is
    stopped, which would break every asyncio test that runs after it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # loudly: a missing driver must not look like a pass
        pytest.fail("playwright is not installed: .venv/bin/pip install 'playwright>=1.40,<2' "
                    "(the browser is Debian's /usr/bin/chromium; never `playwright install`)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium fonts-noto-cjk")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN", accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
