"""Cancel from the widget, with a real Celery worker (prefork, on Redis) running the job and the
site under ASGI on PostgreSQL: the job stops at its next report, the row ends CANCELLED and
every open tab shows it through the stream; dismiss and Clear finished empty the list."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task
from tests.e2e.conftest import Traffic
from tests.integration import jobs
from tests.integration.conftest import (
    CeleryEnv,
    celery_environment,
    reachable_broker,
    run_notes,
    wait_for,
)

pytestmark = pytest.mark.e2e
expect: Any = pytest.importorskip("playwright.sync_api").expect

#: The job reports every half second: the slowest a job may report for the target below.
REPORT_PERIOD = 0.5
#: From the click to CANCELLED on screen.
CANCEL_LIMIT = 1.0

#: Notes when the person clicks in the widget, and when a task's status label first reads
#: ``label``, at the start of the frame that draws it, in the page's milliseconds.
WATCH_STATUS = """label => {
  const root = document.querySelector('#async-tasks-viewer')
  window.__statusShownAt = null
  window.__clickedAt = null
  root.addEventListener('click', () => (window.__clickedAt ??= performance.now()), true)
  const look = () => {
    if (window.__statusShownAt !== null) return
    for (const status of root.querySelectorAll('.osis-async-task__status')) {
      if (status.textContent.trim() === label) {
        window.__statusShownAt = 0
        requestAnimationFrame(() => (window.__statusShownAt = performance.now()))
      }
    }
  }
  new MutationObserver(look).observe(root, { subtree: true, childList: true, characterData: true })
  look()
}"""


@pytest.fixture
def worker(asgi_server: str, tmp_path: Path) -> Iterator[CeleryEnv]:
    """A Celery worker on Redis sharing the browser tests' PostgreSQL database."""
    broker = reachable_broker("redis")
    with celery_environment(broker, connection.settings_dict["NAME"], tmp_path) as env:
        env.start_worker("e2e", concurrency=2)
        yield env


def open_panel(page: Any) -> Any:
    page.locator("#async-tasks-viewer .osis-async__toggle").click()
    panel = page.locator("#async-tasks-viewer .osis-async__panel")
    expect(panel).to_be_visible()
    return panel


def stream_open(traffic: Traffic) -> bool:
    return bool(traffic.streams) and len(traffic.list_answers) >= 2


def test_cancel_stops_a_running_job_and_every_tab_shows_it_within_a_second(
    open_asgi_page: Callable[[str], tuple[Any, Traffic]], worker: CeleryEnv, demo_user: Any
) -> None:
    task_uuid = jobs.mailing.enqueue_for(demo_user, 400, REPORT_PERIOD)
    wait_for(
        lambda: AsyncTask.objects.get(uuid=task_uuid).progression >= 1,
        timeout=30,
        what="the job to report",
        logs=worker.logs,
    )
    page, traffic = open_asgi_page("/")
    other, other_traffic = open_asgi_page("/")
    panel = open_panel(page)
    badge = other.locator("#async-tasks-viewer .osis-async__badge")
    expect(badge).to_have_text("1")
    # The tabs share one stream: the leader's; the other hears of its changes from it.
    deadline = time.monotonic() + 5
    while not (stream_open(traffic) or stream_open(other_traffic)):
        assert time.monotonic() < deadline, "no tab opened the stream"
        page.wait_for_timeout(50)
    assert len(traffic.streams) + len(other_traffic.streams) == 1
    page.wait_for_timeout(500)  # the server may send `ready` before its LISTEN is in place

    cancel = panel.get_by_role("button", name="Cancel Mailing")
    expect(cancel).to_have_text("Cancel")
    page.evaluate(WATCH_STATUS, "Cancelled")
    cancel.click()
    expect(panel.locator(".osis-async-task__cancel")).to_have_text("Cancelling…")
    page.wait_for_function("window.__statusShownAt > 0", timeout=5_000)
    took = page.evaluate("(window.__statusShownAt - window.__clickedAt) / 1000")
    task = AsyncTask.objects.get(uuid=task_uuid)
    print(
        f"\ncancel clicked → CANCELLED on screen: {took * 1000:.0f} ms (asked → written: "
        f"{(task.completed_at - task.cancel_requested_at).total_seconds() * 1000:.0f} ms)"
    )
    assert took <= CANCEL_LIMIT

    assert task.state == TaskState.CANCELLED
    assert 0 < task.progression < 100
    assert run_notes(worker.run_log, task_uuid) == ["started"]
    # The other tab: its badge and list follow through the stream.
    expect(badge).to_have_count(0, timeout=2_000)
    other_row = other.locator("#async-tasks-viewer .osis-async-task").first
    expect(other_row.locator(".osis-async-task__status")).to_have_text("Cancelled")

    # Dismiss it: the row leaves this tab and the other.
    panel.get_by_role("button", name="Dismiss Mailing").click()
    expect(panel.locator(".osis-async-task")).to_have_count(0)
    expect(other.locator("#async-tasks-viewer .osis-async-task")).to_have_count(0, timeout=2_000)
    assert not AsyncTask.objects.filter(uuid=task_uuid).exists()


def test_clear_finished_keeps_the_running_tasks(
    open_asgi_page: Callable[[str], tuple[Any, Traffic]], worker: CeleryEnv, demo_user: Any
) -> None:
    for name in ("Report 1", "Report 2"):
        AsyncTask.objects.create(name=name, person=demo_user)
    for task in AsyncTask.objects.filter(person=demo_user):
        update_task(task.uuid, state=TaskState.DONE)
    running = jobs.mailing.enqueue_for(demo_user, 400, REPORT_PERIOD)
    page, _ = open_asgi_page("/")
    panel = open_panel(page)
    expect(panel.locator(".osis-async-task")).to_have_count(3)

    panel.get_by_role("button", name="Clear finished").click()

    expect(panel.locator(".osis-async-task")).to_have_count(1)
    expect(panel.locator(".osis-async-task__name")).to_have_text("Mailing")
    expect(panel.get_by_role("button", name="Clear finished")).to_have_count(0)
    assert list(AsyncTask.objects.filter(person=demo_user).values_list("uuid", flat=True)) == [
        running
    ]
    # A pending or running task cancelled from the list ends CANCELLED.
    panel.get_by_role("button", name="Cancel Mailing").click()
    expect(panel.locator(".osis-async-task__status")).to_have_text("Cancelled", timeout=5_000)
