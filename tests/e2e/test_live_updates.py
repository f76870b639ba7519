"""How soon a task's new progress reaches the screen: pushed through the task stream when the
site runs under ASGI (a real uvicorn process on PostgreSQL), polled for under WSGI; and the
conditional polls the widget sends."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task
from tests.e2e.conftest import STREAM, Traffic

pytestmark = pytest.mark.e2e

expect: Any = pytest.importorskip("playwright.sync_api").expect

PROGRESSIONS = (20, 35, 50, 65, 80)
# Seconds between two updates, so they fall at different moments of a poll cycle.
PAUSES = (0.2, 1.3, 2.6, 0.7, 3.9)
STREAM_LIMIT = 1.0
# The widget polls every 5 seconds while a task runs; a second for the request and the drawing.
POLL_LIMIT = 5.0 + 1.0

# Notes when each progress label first appears, at the start of the frame that draws it, as a
# wall-clock time in milliseconds (comparable with Python's time.time()).
WATCH_LABELS = """() => {
  const root = document.querySelector('#async-tasks-viewer')
  const shown = (window.__labelShownAt = {})
  const look = () => {
    for (const label of root.querySelectorAll('.osis-async-task__status')) {
      const text = label.textContent.trim()
      if (text in shown) continue
      shown[text] = null
      requestAnimationFrame(() => (shown[text] = performance.timeOrigin + performance.now()))
    }
  }
  new MutationObserver(look).observe(root, { subtree: true, childList: true, characterData: true })
  look()
}"""


def running_task(user: Any) -> str:
    uuid = str(AsyncTask.objects.create(name="Grades import", person=user, time_to_live=5).uuid)
    update_task(uuid, state=TaskState.PROCESSING, progression=5)
    return uuid


def open_widget(page: Any) -> None:
    page.locator("#async-tasks-viewer .osis-async__toggle").click()
    expect(page.locator("#async-tasks-viewer .osis-async__panel")).to_be_visible()
    expect(page.locator("#async-tasks-viewer .osis-async-task__status")).to_have_text("5%")


@dataclass
class Latencies:
    """Seconds from each ``update_task`` call, and from its return (the change committed), to
    the first frame showing the new percentage."""

    from_call: list[float] = field(default_factory=list)
    from_commit: list[float] = field(default_factory=list)

    def report(self, how: str) -> None:
        for name, values in (("call", self.from_call), ("commit", self.from_commit)):
            print(
                f"\n{how}, update_task {name} → percentage on screen, {len(values)} updates: "
                f"max {max(values) * 1000:.0f} ms, median {statistics.median(values) * 1000:.0f} "
                f"ms ({', '.join(f'{value * 1000:.0f}' for value in values)})",
                end="",
            )
        print()


def measure(page: Any, uuid: str, timeout_ms: float) -> Latencies:
    page.evaluate(WATCH_LABELS)
    latencies = Latencies()
    for progression, pause in zip(PROGRESSIONS, PAUSES, strict=True):
        page.wait_for_timeout(pause * 1000)
        label = f"{progression}%"
        called = time.time() * 1000
        update_task(uuid, progression=progression)
        committed = time.time() * 1000
        shown = page.wait_for_function(
            "label => window.__labelShownAt[label]", arg=label, timeout=timeout_ms
        ).json_value()
        assert shown > called, "the page's clock and this process's disagree"
        latencies.from_call.append((shown - called) / 1000)
        latencies.from_commit.append((shown - committed) / 1000)
    return latencies


def test_the_stream_shows_a_change_within_a_second(
    open_asgi_page: Callable[[str], tuple[Any, Traffic]], demo_user: Any
) -> None:
    uuid = running_task(demo_user)
    page, traffic = open_asgi_page("/")
    open_widget(page)
    # The stream is open once the widget has re-read the list for its `ready` event.
    deadline = time.monotonic() + 5
    while not (traffic.streams and len(traffic.list_answers) >= 2):
        assert time.monotonic() < deadline, "the widget did not open the stream"
        page.wait_for_timeout(50)
    assert traffic.list_answers[0].header_value("link") == f'<{STREAM}>; rel="osis-async-stream"'
    page.wait_for_timeout(500)  # the server may send `ready` before its LISTEN is in place
    lists_before = len(traffic.lists)

    latencies = measure(page, uuid, timeout_ms=5_000)
    latencies.report("stream (uvicorn, PostgreSQL)")
    # From the commit: the UPDATE's own time is the database's, the same with or without stream.
    assert max(latencies.from_commit) <= STREAM_LIMIT, latencies
    # Each change costs one read of the list, and nothing is polled every 5 seconds.
    assert len(traffic.lists) - lists_before <= len(PROGRESSIONS) + 1
    assert len(traffic.streams) == 1


def test_polling_shows_a_change_within_the_poll_interval(open_page: Any, demo_user: Any) -> None:
    uuid = running_task(demo_user)
    traffic = Traffic()
    page = open_page("/", before_goto=traffic.watch)
    open_widget(page)

    latencies = measure(page, uuid, timeout_ms=(POLL_LIMIT + 4) * 1000)
    latencies.report("polling (WSGI live server)")
    assert max(latencies.from_commit) < POLL_LIMIT, latencies
    assert traffic.streams == []


def test_polls_ask_only_for_changes(open_page: Any, demo_user: Any) -> None:
    uuid = running_task(demo_user)
    traffic = Traffic()
    page = open_page("/", before_goto=traffic.watch)
    open_widget(page)

    def answered(count: int) -> list[Any]:
        deadline = time.monotonic() + 15
        while len(traffic.list_answers) < count:
            assert time.monotonic() < deadline, f"fewer than {count} polls"
            page.wait_for_timeout(100)
        return traffic.list_answers[:count]

    first, second = answered(2)
    etag = first.header_value("etag")
    assert first.status == 200 and etag
    assert first.request.header_value("if-none-match") is None
    assert second.request.header_value("if-none-match") == etag
    assert second.status == 304
    expect(page.locator("#async-tasks-viewer .osis-async-task__status")).to_have_text("5%")
    assert first.header_value("link") is None

    # A change gets a full answer and a new validator, which the next poll sends back.
    update_task(uuid, progression=45)
    third, fourth = answered(4)[2:]
    assert third.status == 200
    assert third.header_value("etag") != etag
    expect(page.locator("#async-tasks-viewer .osis-async-task__status")).to_have_text("45%")
    assert fourth.request.header_value("if-none-match") == third.header_value("etag")
    assert fourth.status == 304


TABS = 5
TAB_LIMIT = 1.0
TAKEOVER_LIMIT = 2.0


def _server_streams(base: str) -> int:
    """How many task streams the ASGI server holds open (``tests/e2e/asgi.py`` counts them)."""
    return int(httpx.get(base + "/__open-streams__", timeout=5).text)


def _open_streams(pages: list[Any], opened: dict[Any, list[Any]], ended: set[Any]) -> list[Any]:
    """The pages that hold a stream request still open."""
    return [page for page in pages if any(request not in ended for request in opened[page])]


def _shown_on_all(pages: list[Any], label: str, timeout_ms: float) -> float:
    """Waits until every page shows ``label`` and returns the seconds that took."""
    started = time.monotonic()
    for page in pages:
        remaining = max(timeout_ms - (time.monotonic() - started) * 1000, 1)
        page.wait_for_function(
            """label => [...document.querySelectorAll(
                 '#async-tasks-viewer .osis-async-task__status'
               )].some(e => e.textContent.trim() === label)""",
            arg=label,
            timeout=remaining,
        )
    return time.monotonic() - started


def test_tabs_share_one_stream_and_the_next_tab_takes_over(
    open_asgi_page: Callable[[str], tuple[Any, Traffic]], asgi_server: str, demo_user: Any
) -> None:
    uuid = running_task(demo_user)
    pages: list[Any] = []
    opened: dict[Any, list[Any]] = {}
    ended: set[Any] = set()
    for _ in range(TABS):
        page, traffic = open_asgi_page("/")
        pages.append(page)
        opened[page] = traffic.streams
        page.on("requestfinished", lambda request: ended.add(request))
        page.on("requestfailed", lambda request: ended.add(request))
    for page in pages:
        expect(page.locator("#async-tasks-viewer .osis-async-task__status")).to_have_text("5%")

    deadline = time.monotonic() + 5
    while not _open_streams(pages, opened, ended):
        assert time.monotonic() < deadline, "no tab opened the stream"
        pages[0].wait_for_timeout(50)
    pages[0].wait_for_timeout(1_000)  # time for a second stream to open, were there one
    leaders = _open_streams(pages, opened, ended)
    assert len(leaders) == 1, f"{len(leaders)} open streams for {TABS} tabs"
    assert sum(len(requests) for requests in opened.values()) == 1
    assert _server_streams(asgi_server) == 1

    update_task(uuid, progression=40)
    took = _shown_on_all(pages, "40%", timeout_ms=5_000)
    print(f"\n{TABS} tabs, one stream: the change on all of them in {took * 1000:.0f} ms")
    assert took <= TAB_LIMIT

    leader = leaders[0]
    others = [page for page in pages if page is not leader]
    leader.close()
    update_task(uuid, progression=70)
    took = _shown_on_all(others, "70%", timeout_ms=8_000)
    print(f"leader closed: the next change on the other {len(others)} in {took * 1000:.0f} ms")
    assert took <= TAKEOVER_LIMIT
    others[0].wait_for_timeout(1_000)
    assert len(_open_streams(others, opened, ended)) == 1
    # The server lets the closed tab's stream go when it notices the disconnect.
    deadline = time.monotonic() + 5
    while (held := _server_streams(asgi_server)) != 1 and time.monotonic() < deadline:
        others[0].wait_for_timeout(100)
    assert held == 1, f"the server holds {held} streams for the {len(others)} tabs left"
