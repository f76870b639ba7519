"""Browser test fixtures: Debian's chromium driven by Playwright, logged in to the live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
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


LIST = "/osis_async/tasks/"
STREAM = "/osis_async/tasks/stream/"


@dataclass
class Traffic:
    """The list and stream requests a page made, with the list's answers."""

    lists: list[Any] = field(default_factory=list)
    streams: list[Any] = field(default_factory=list)
    list_answers: list[Any] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        """Notes the page's traffic from now on; call it before the page loads."""
        page.on("request", self._on_request)
        page.on("response", self._on_response)

    def _on_request(self, request: Any) -> None:
        if STREAM in request.url:
            self.streams.append(request)
        elif LIST in request.url:
            self.lists.append(request)

    def _on_response(self, response: Any) -> None:
        if LIST in response.url and STREAM not in response.url:
            self.list_answers.append(response)


# The site under ASGI: a uvicorn process sharing the PostgreSQL test database, which hears of
# this process's changes through LISTEN/NOTIFY.


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[str]:
    if connection.vendor != "postgresql":
        pytest.skip(
            "the ASGI server process shares the test database and hears of changes through "
            "PostgreSQL LISTEN/NOTIFY: run with OSIS_ASYNC_TEST_DB=postgres"
        )
    pytest.importorskip("uvicorn")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.stream_settings",
            "OSIS_ASYNC_TEST_DB": "postgres",
            "OSIS_ASYNC_TEST_DB_NAME": connection.settings_dict["NAME"],
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
        }
    )
    # uvicorn serves on a socket bound here, so no other server can take its port meanwhile.
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)
        base = f"http://127.0.0.1:{listening.getsockname()[1]}"
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.e2e.asgi:application"]
            + ["--fd", str(listening.fileno()), "--log-level", "warning"]
            + ["--timeout-graceful-shutdown", "5"],
            cwd=REPO,
            env=env,
            pass_fds=[listening.fileno()],
        )
        try:
            httpx.get(base + LIST, timeout=20)
        except httpx.TransportError:
            process.kill()
            pytest.fail("uvicorn did not start")
        try:
            yield base
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def open_asgi_page(
    browser: Any, asgi_server: str, demo_user: Any
) -> Iterator[Callable[[str], tuple[Any, Traffic]]]:
    """Opens a path of the ASGI server, logged in, watching its list and stream requests."""
    client = Client()
    client.force_login(demo_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 800})
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": asgi_server}]
    )
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    errors: list[str] = []

    def open_(path: str) -> tuple[Any, Traffic]:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
        traffic = Traffic()
        traffic.watch(page)
        response = page.goto(asgi_server + path)
        assert response is not None and response.ok, f"{page.url}: {response and response.status}"
        assert page.url == asgi_server + path, f"sent to {page.url}"
        page.wait_for_selector(".osis-async__toggle")
        return page, traffic

    yield open_
    context.close()
    assert errors == [], "the page reported errors"
