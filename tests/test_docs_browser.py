"""/docs (Swagger UI) and /redoc in headless Chromium with every outside request blocked.

A real `newsrag serve --api-only` over the seed index; Debian's /usr/bin/chromium driven by
Playwright (never `playwright install`). Skips without them unless NEWSRAG_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsrag.config import Settings
from tests.conftest import free_port, stop_process
from tests.test_server import start_server, wait_until_ready

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
OPERATIONS = 8  # the routes of the spec (test_fuzz_api.py lists them)
RENDER_MS = 60_000


@pytest.fixture(scope="module")
def server(seed_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    index_dir = tmp_path_factory.mktemp("docs-index")
    shutil.copytree(seed_index.index_dir, index_dir, dirs_exist_ok=True)
    port = free_port()
    process = start_server(index_dir, port=port, env={"NEWSRAG_API_KEY": ""})
    try:
        wait_until_ready(process, port, "", limit=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = None if CHROMIUM.exists() else f"{CHROMIUM} is missing"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "Playwright for Python is not installed"
    if missing:
        if os.environ.get("NEWSRAG_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Offline:
    """A page whose requests outside the server are aborted and recorded, with its errors."""

    def __init__(self, browser: Any, server: str) -> None:
        self.context = browser.new_context()
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []

        def route(request_route: Any) -> None:
            url = request_route.request.url
            if url.startswith(server) or url.startswith(("data:", "blob:")):
                request_route.continue_()
            else:
                self.outside.append(url)
                request_route.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("requestfailed", lambda request: self.failed.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

    def close(self) -> None:
        self.context.close()


def test_swagger_ui_renders_offline_and_try_it_out_answers(browser: Any, server: str) -> None:
    offline = Offline(browser, server)
    try:
        page = offline.page
        page.goto(f"{server}/docs", wait_until="networkidle")
        page.wait_for_selector(".opblock", timeout=RENDER_MS)
        assert page.locator(".opblock").count() == OPERATIONS
        assert "newsrag" in page.locator(".info .title").inner_text()
        # "Try it out" on POST /api/ask sends the documented example: a real answer comes back.
        operation = page.locator(".opblock-post", has_text="/api/ask").first
        operation.locator(".opblock-summary").click()
        operation.locator("button.execute").click()
        body = operation.locator(".responses-wrapper .live-responses-table .microlight").first
        body.wait_for(timeout=RENDER_MS)
        page.wait_for_function(
            "document.querySelector('.live-responses-table .microlight')"
            ".textContent.includes('Rizgar Mohammed')",
            timeout=RENDER_MS,
        )
        assert '"refused": false' in body.inner_text()
        page.screenshot(path=str(Path(os.environ.get("TMPDIR", "/tmp")) / "newsrag-docs.png"))
        assert offline.outside == [], offline.outside
        assert offline.failed == [] and offline.errors == [], (offline.failed, offline.errors)
    finally:
        offline.close()


def test_redoc_renders_offline(browser: Any, server: str) -> None:
    offline = Offline(browser, server)
    try:
        page = offline.page
        page.goto(f"{server}/redoc", wait_until="networkidle")
        page.wait_for_selector("h1", timeout=RENDER_MS)
        page.wait_for_function(
            "document.querySelectorAll('[data-section-id^=\"operation/\"]').length >= 8",
            timeout=RENDER_MS,
        )
        assert "newsrag" in page.locator("h1").first.inner_text()
        text = page.locator("body").inner_text()
        for route in ("/api/ask", "/api/search", "/v1/chat/completions", "/v1/models"):
            assert route in text, route
        assert "Who is the mayor of Makhmour?" in text  # the request examples are shown
        assert offline.outside == [], offline.outside
        assert offline.failed == [] and offline.errors == [], (offline.failed, offline.errors)
    finally:
        offline.close()
