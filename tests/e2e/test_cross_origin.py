"""The widget on one origin reading the list endpoint of another, in Chromium (issue 9, item 10).

The page comes from a plain HTTP server on one loopback port; the API is the live server on
another. Both are ``localhost``: two origins, one site, so the session cookie Django sets
(``SameSite=Lax``) may go with a cross-origin ``fetch`` that asks for it, and CORS decides
whether the page may read the answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.e2e

expect: Any = pytest.importorskip("playwright.sync_api").expect

LIST = "/osis_async/tasks/"
REFRESH = "document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))"
HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Intranet</title>
<link href="{api}/static/osis_async/osis-async.css" rel="stylesheet">
</head>
<body>
<header><div id="async-tasks-viewer" data-url="{api}{list}" data-interval="300"></div></header>
<script src="{api}/static/osis_async/osis-async.umd.js"></script>
</body>
</html>
"""


@pytest.fixture
def page_origin(live_server: Any) -> Iterator[str]:
    """Serves the host page on another port of the live server's host: another origin."""
    page = HOST_PAGE.format(api=live_server.url, list=LIST).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host = live_server.url.split("://", 1)[1].rsplit(":", 1)[0]
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def logged_in(browser: Any, live_server: Any, demo_user: Any) -> Iterator[Any]:
    """A browser context logged in on the API's origin through its login form, so the session
    cookie is the one Django sets, with its own SameSite attribute."""
    # No context.route() here: while Playwright intercepts requests, it answers CORS
    # preflights itself, and the endpoint's own answer would go untested.
    context = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 800})
    login = context.new_page()
    login.goto(live_server.url + "/accounts/login/?next=/")
    login.fill("input[name=username]", "demo")
    login.fill("input[name=password]", "demo")
    login.click("button[type=submit]")
    login.wait_for_url(live_server.url + "/")
    (cookie,) = [c for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME]
    assert cookie["sameSite"] == "Lax"
    login.close()
    yield context
    context.close()


@pytest.fixture
def list_answers(logged_in: Any) -> list[Any]:
    """The list endpoint's answers that the pages of the context could read, in order."""
    answers: list[Any] = []
    logged_in.on(
        "response", lambda response: answers.append(response) if LIST in response.url else None
    )
    return answers


@pytest.fixture
def list_failures(logged_in: Any) -> list[Any]:
    """The requests to the list endpoint that failed for the page (CORS refusals among them)."""
    failures: list[Any] = []
    logged_in.on(
        "requestfailed", lambda request: failures.append(request) if LIST in request.url else None
    )
    return failures


def running_task(user: Any) -> str:
    uuid = str(AsyncTask.objects.create(name="Grades import", person=user, time_to_live=5).uuid)
    update_task(uuid, state=TaskState.PROCESSING, progression=40)
    return uuid


def open_host_page(context: Any, origin: str) -> tuple[Any, list[str]]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(origin + "/")
    page.wait_for_selector(".osis-async__toggle")
    page.locator("#async-tasks-viewer .osis-async__toggle").click()
    return page, errors


def wait_for(page: Any, events: list[Any], count: int) -> None:
    """Lets the page run (and its events reach this thread) until ``count`` events were seen."""
    for _ in range(100):
        if len(events) >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{len(events)} events of the list endpoint, not {count}")


def test_a_listed_origin_reads_the_tasks_with_the_session_cookie(
    settings: Any,
    live_server: Any,
    page_origin: str,
    logged_in: Any,
    list_answers: list[Any],
    demo_user: Any,
) -> None:
    settings.OSIS_ASYNC_DOMAIN_LIST = [page_origin]
    assert page_origin != live_server.url
    uuid = running_task(demo_user)

    page, errors = open_host_page(logged_in, page_origin)
    item = page.locator("#async-tasks-viewer .osis-async-task")
    expect(item.locator(".osis-async-task__name")).to_have_text("Grades import")
    expect(item.locator(".osis-async-task__status")).to_have_text("40%")
    expect(page.locator("#async-tasks-viewer .osis-async__message--error")).to_have_count(0)

    wait_for(page, list_answers, 1)
    first = list_answers[0]
    assert first.url.startswith(live_server.url + LIST)
    assert first.request.header_value("origin") == page_origin
    assert first.status == 200
    assert first.header_value("access-control-allow-origin") == page_origin
    assert first.header_value("access-control-allow-credentials") == "true"
    etag = first.header_value("etag")
    assert etag

    # The next poll sends If-None-Match, which is not a simple header: Chromium sends a
    # preflight first, unauthenticated, and goes on only if the endpoint allowed it.
    page.evaluate(REFRESH)
    wait_for(page, list_answers, 2)
    second = list_answers[1]
    assert second.request.header_value("if-none-match") == etag
    assert second.status == 304
    expect(page.locator("#async-tasks-viewer .osis-async__message--error")).to_have_count(0)

    # A change is a full answer again, shown.
    update_task(uuid, progression=75)
    page.evaluate(REFRESH)
    expect(item.locator(".osis-async-task__status")).to_have_text("75%")
    assert errors == []


def test_an_origin_that_is_not_listed_cannot_read_them(
    settings: Any,
    page_origin: str,
    logged_in: Any,
    list_failures: list[Any],
    demo_user: Any,
) -> None:
    settings.OSIS_ASYNC_DOMAIN_LIST = ["https://intranet.example.org"]
    running_task(demo_user)

    page, _ = open_host_page(logged_in, page_origin)
    expect(page.locator("#async-tasks-viewer .osis-async__message--error")).to_be_visible()
    expect(page.locator("#async-tasks-viewer .osis-async-task")).to_have_count(0)
    wait_for(page, list_failures, 1)
    assert list_failures[0].failure == "net::ERR_FAILED"


@pytest.fixture
def preflights(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The origins of the preflights the list endpoint answered (Chromium does not show a
    preflight to the page's own network events)."""
    from osis_async import cors

    seen: list[str] = []
    real: Callable[[Any], bool] = cors.is_preflight

    def watched(request: Any) -> bool:
        answer = real(request)
        if answer:
            seen.append(request.headers.get("Origin", ""))
        return answer

    monkeypatch.setattr(cors, "is_preflight", watched)
    return seen


def test_the_conditional_poll_s_preflight_is_answered(
    settings: Any,
    page_origin: str,
    logged_in: Any,
    list_answers: list[Any],
    demo_user: Any,
    preflights: list[str],
) -> None:
    settings.OSIS_ASYNC_DOMAIN_LIST = [page_origin]
    running_task(demo_user)
    page, _ = open_host_page(logged_in, page_origin)
    wait_for(page, list_answers, 1)
    assert preflights == []  # the first request has only simple headers
    page.evaluate(REFRESH)
    wait_for(page, list_answers, 2)
    assert list_answers[1].status == 304
    assert preflights == [page_origin]
