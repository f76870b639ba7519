"""Browser test fixtures: Debian's chromium driven by Playwright, logged in to the live server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("OSIS_ASYNC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = REPO / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
# How long the widget may take to show a change it polls for (5 s while a task runs).
POLL_TIMEOUT_MS = 8_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    # Playwright's sync API runs an event loop in the test's thread, which Django takes for an
    # async context; the ORM calls the tests make there are ordinary synchronous ones.
    with pytest.MonkeyPatch.context() as patch, playwright_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def demo_user(transactional_db: None) -> Any:
    return get_user_model().objects.create_user("demo", password="demo")


@dataclass
class Watched:
    """What a page did that a test may want to refuse: errors and requests to other hosts."""

    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)


@pytest.fixture
def open_page(browser: Any, live_server: Any, demo_user: Any) -> Iterator[Callable[..., Any]]:
    """Opens a path of the live server in a fresh, logged-in browser context."""
    client = Client()
    client.force_login(demo_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    contexts: list[Any] = []
    watched: list[Watched] = []

    def open_(
        path: str = "/",
        *,
        locale: str = "en-GB",
        frozen_at: datetime | None = None,
        before_goto: Callable[[Any], object] | None = None,
        refused_status: int | None = None,
    ) -> Any:
        """``refused_status``: the browser's own console error for a resource answered with it
        is expected (a signed-out test)."""
        context = browser.new_context(
            locale=locale, timezone_id="Europe/Brussels", viewport={"width": 1100, "height": 800}
        )
        if frozen_at is not None:
            context.clock.set_fixed_time(frozen_at)
        contexts.append(context)
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        # Host pages have no favicon; the browser's 404 for it is not the widget's doing.
        context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        page = context.new_page()
        seen = Watched()
        watched.append(seen)
        page.on("pageerror", lambda error: seen.errors.append(str(error)))
        expected = f"the server responded with a status of {refused_status} "

        def on_console(message: Any) -> None:
            if message.type == "error" and not (refused_status and expected in message.text):
                seen.errors.append(message.text)

        page.on("console", on_console)
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith((live_server.url, "data:", "about:"))
                else seen.foreign_requests.append(request.url)
            ),
        )
        if before_goto is not None:
            before_goto(page)
        page.goto(live_server.url + path)
        page.wait_for_selector(".osis-async__toggle")
        return page

    yield open_

    for context in contexts:
        context.close()
    for seen in watched:
        assert seen.errors == [], "the page reported errors"
        assert seen.foreign_requests == [], "the page loaded something from another host"


@pytest.fixture
def axe_path() -> Path:
    if not AXE.is_file():
        pytest.skip("frontend/node_modules/axe-core is missing: run npm ci in frontend/")
    return AXE
