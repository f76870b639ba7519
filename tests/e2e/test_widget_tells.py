"""Issue 14 in a real browser: notices of ended tasks, time left, clamped descriptions, the
panel on phones, signed out, and axe on a list that scrolls."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from osis_async.models import TaskState
from osis_async.utils import update_task
from tests.e2e.conftest import POLL_TIMEOUT_MS
from tests.e2e.test_widget import REFRESH, create, open_widget, task_item

pytestmark = pytest.mark.e2e

expect: Any = pytest.importorskip("playwright.sync_api").expect

LONG = "Exports every student of the faculty with their grades, their courses and their " * 6


def _axe(page: Any, axe_path: Path) -> list[str]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_path))
    result = page.evaluate("axe.run(document.querySelector('#async-tasks-viewer'))")
    assert result["passes"], "axe checked nothing"
    return [
        f"{violation['id']}: {[node['target'] for node in violation['nodes']]}"
        for violation in result["violations"]
    ]


def test_a_task_that_ends_leaves_a_notice_by_the_button(open_page: Any, demo_user: Any) -> None:
    uuid = create(demo_user, "Students export", state=TaskState.PROCESSING, progression=30)
    page = open_page("/")
    expect(page.locator("#async-tasks-viewer .osis-async__badge")).to_have_text("1")

    update_task(uuid, state=TaskState.DONE, completed_at=timezone.now())
    notice = page.locator("#async-tasks-viewer .osis-async__notice")
    expect(notice).to_have_text(
        re.compile("Task “Students export” finished."), timeout=POLL_TIMEOUT_MS
    )
    expect(page.locator("#async-tasks-viewer [aria-live=polite]")).to_have_text(
        "Task “Students export” finished."
    )
    toggle = page.locator("#async-tasks-viewer .osis-async__toggle").bounding_box()
    box = notice.bounding_box()
    assert abs(box["y"] - (toggle["y"] + toggle["height"])) < 20, "the notice is not by the button"
    notice.get_by_role("button", name="Close").click()
    expect(notice).to_have_count(0)


def test_a_processing_task_shows_the_time_left(open_page: Any, demo_user: Any) -> None:
    started = timezone.now() - timedelta(minutes=3)
    create(
        demo_user, "Grades import", state=TaskState.PROCESSING, progression=50, started_at=started
    )
    create(demo_user, "Just started", state=TaskState.PROCESSING, progression=3, started_at=started)
    page = open_page("/")
    open_widget(page)
    expect(task_item(page, "Grades import").locator(".osis-async-task__left")).to_have_text(
        "About 3 minutes left"
    )
    expect(task_item(page, "Just started").locator(".osis-async-task__left")).to_have_count(0)


def test_the_time_left_in_french(open_page: Any, demo_user: Any) -> None:
    started = timezone.now() - timedelta(minutes=3)
    create(demo_user, "Import", state=TaskState.PROCESSING, progression=50, started_at=started)
    page = open_page("/", locale="fr-BE")
    open_widget(page)
    expect(task_item(page, "Import").locator(".osis-async-task__left")).to_have_text(
        "Encore environ 3 minutes"
    )


def test_a_long_description_is_clamped_with_a_control_to_show_it_all(
    open_page: Any, demo_user: Any
) -> None:
    create(demo_user, "Long one", LONG, state=TaskState.DONE)
    create(demo_user, "Short one", "Two words.", state=TaskState.DONE)
    page = open_page("/")
    open_widget(page)
    description = task_item(page, "Long one").locator(".osis-async-task__description")
    line = float(description.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert description.bounding_box()["height"] <= 3 * line + 1
    short_controls = task_item(page, "Short one").get_by_role("button")
    expect(short_controls).to_have_count(1)  # its dismiss button alone: nothing to show
    expect(short_controls).to_have_accessible_name("Dismiss Short one")

    show = task_item(page, "Long one").get_by_role("button", name="Show all")
    expect(show).to_have_attribute("aria-expanded", "false")
    show.click()
    assert description.bounding_box()["height"] > 4 * line
    expect(task_item(page, "Long one").get_by_role("button", name="Show less")).to_have_attribute(
        "aria-expanded", "true"
    )


@pytest.mark.parametrize("width", [320, 360, 390, 414])
def test_the_open_panel_fits_a_phone(open_page: Any, demo_user: Any, width: int) -> None:
    create(demo_user, "Students export", LONG, state=TaskState.PROCESSING, progression=30)
    page = open_page("/")
    page.set_viewport_size({"width": width, "height": 740})
    panel = open_widget(page)
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert box["width"] >= width - 2, "the panel does not take the width of the phone"
    assert box["y"] + box["height"] <= 740
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "horizontal scroll"


def test_signed_out_says_so_and_stops_asking(open_page: Any, demo_user: Any) -> None:
    create(demo_user, "Students export", state=TaskState.PROCESSING, progression=30)
    warnings: list[str] = []
    page = open_page(
        "/",
        refused_status=403,
        before_goto=lambda page: page.on(
            "console", lambda message: message.type == "warning" and warnings.append(message.text)
        ),
    )
    panel = open_widget(page)
    page.context.clear_cookies()
    asked: list[str] = []
    page.on(
        "request", lambda request: "/osis_async/tasks/" in request.url and asked.append(request.url)
    )
    page.evaluate(REFRESH)
    expect(panel).to_contain_text("Sign in to see your tasks.")
    assert any("/osis_async/tasks/" in text and "403" in text for text in warnings), warnings
    before = len(asked)
    page.wait_for_timeout(6_500)  # a running task would be polled every 5 s
    assert len(asked) == before, "the widget kept asking while signed out"
    page.evaluate(REFRESH)
    page.wait_for_timeout(500)
    assert len(asked) == before + 1


def test_no_axe_violations_with_a_scrolling_list_and_every_control_open(
    open_page: Any, demo_user: Any, axe_path: Path
) -> None:
    started = timezone.now() - timedelta(minutes=2)
    running = create(
        demo_user, "Running", state=TaskState.PROCESSING, progression=40, started_at=started
    )
    create(demo_user, "Long one", LONG, state=TaskState.DONE)
    for number in range(5):
        create(demo_user, f"Report {number}", "A yearly report.", state=TaskState.DONE)
    page = open_page("/")
    panel = open_widget(page)
    expect(panel.locator(".osis-async-task")).to_have_count(7)
    assert panel.evaluate("e => e.scrollHeight > e.clientHeight"), "the list does not scroll"
    panel.get_by_role("button", name="Show all").click()
    expect(panel.locator(".osis-async-task__left")).to_have_count(1)
    assert _axe(page, axe_path) == []

    # The keyboard reaches the scrolling panel, then its controls.
    page.locator("#async-tasks-viewer .osis-async__toggle").focus()
    page.keyboard.press("Tab")
    expect(panel).to_be_focused()
    page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Dismiss Report 4")).to_be_focused()
    for number in (3, 2, 1, 0):  # the rows in the list's order, newest first
        page.keyboard.press("Tab")
        expect(panel.get_by_role("button", name=f"Dismiss Report {number}")).to_be_focused()
    page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Dismiss Long one")).to_be_focused()
    page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Show less")).to_be_focused()

    page.keyboard.press("Escape")
    update_task(running, state=TaskState.ERROR, completed_at=timezone.now())
    notice = page.locator("#async-tasks-viewer .osis-async__notice")
    expect(notice).to_have_text(re.compile("Task “Running” failed."), timeout=POLL_TIMEOUT_MS)
    assert _axe(page, axe_path) == []
    expect(page.locator("#async-tasks-viewer .osis-async__toggle")).to_be_focused()
    page.keyboard.press("Tab")
    expect(notice.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Enter")
    expect(notice).to_have_count(0)


def test_the_title_starts_with_the_running_count_when_asked(open_page: Any, demo_user: Any) -> None:
    uuid = create(demo_user, "Students export", state=TaskState.PROCESSING, progression=30)
    page = open_page("/")
    title = page.title()
    assert not title.startswith("("), "the demo page's viewer does not ask for the badge"
    page.evaluate(
        """url => {
          const element = document.createElement('div')
          element.dataset.osisAsyncViewer = ''
          element.dataset.url = url
          element.dataset.titleBadge = ''
          document.body.append(element)
          OsisAsync.mountAll()
        }""",
        "/osis_async/tasks/",
    )
    expect(page).to_have_title(f"(1) {title}")
    update_task(uuid, state=TaskState.DONE, completed_at=timezone.now())
    expect(page).to_have_title(title, timeout=POLL_TIMEOUT_MS)
