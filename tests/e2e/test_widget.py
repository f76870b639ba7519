"""The widget in a real browser on the demo page, tasks changed from Python as a worker would."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task
from tests.e2e.conftest import POLL_TIMEOUT_MS, REPO

pytestmark = pytest.mark.e2e

expect: Any = pytest.importorskip("playwright.sync_api").expect

SCREENSHOT = REPO / "docs" / "img" / "widget.png"
REFRESH = "document.dispatchEvent(new CustomEvent('AsyncTasksViewer:fetchAsyncTasks'))"


def create(user: Any, name: str, description: str = "", **changes: Any) -> str:
    uuid = str(
        AsyncTask.objects.create(
            name=name, description=description, person=user, time_to_live=5
        ).uuid
    )
    if changes:
        update_task(uuid, **changes)
    return uuid


def open_widget(page: Any) -> Any:
    toggle = page.locator("#async-tasks-viewer .osis-async__toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    panel = page.locator("#async-tasks-viewer .osis-async__panel")
    expect(panel).to_be_visible()
    return panel


def task_item(page: Any, name: str) -> Any:
    return page.locator("#async-tasks-viewer .osis-async-task").filter(
        has=page.locator(".osis-async-task__name", has_text=name)
    )


def test_badge_counts_pending_tasks_as_they_come_and_finish(open_page: Any, demo_user: Any) -> None:
    page = open_page("/")
    badge = page.locator("#async-tasks-viewer .osis-async__badge")
    expect(badge).to_have_count(0)

    first = create(demo_user, "Yearly report")
    second = create(demo_user, "Students export", state=TaskState.PROCESSING)
    page.evaluate(REFRESH)
    expect(badge).to_have_text("2")

    # From here on the widget notices by itself: it polls every 5 seconds while tasks run.
    update_task(first, state=TaskState.DONE)
    expect(badge).to_have_text("1", timeout=POLL_TIMEOUT_MS)
    update_task(second, state=TaskState.DONE)
    expect(badge).to_have_count(0, timeout=POLL_TIMEOUT_MS)


def test_bar_advances_then_turns_green(open_page: Any, demo_user: Any) -> None:
    uuid = create(demo_user, "Grades import", "Imports grades", state="PROCESSING", progression=20)
    page = open_page("/")
    panel = open_widget(page)
    item = task_item(page, "Grades import")
    bar = item.get_by_role("progressbar", name="Grades import")
    expect(bar).to_have_attribute("aria-valuenow", "20")
    expect(bar).to_have_class(re.compile(r"osis-async-progress--processing"))
    assert bar.evaluate("e => getComputedStyle(e.firstElementChild).animationName") == (
        "osis-async-stripes"
    )
    width_at_20 = bar.evaluate("e => e.firstElementChild.getBoundingClientRect().width")

    update_task(uuid, progression=60)
    expect(bar).to_have_attribute("aria-valuenow", "60", timeout=POLL_TIMEOUT_MS)
    expect(item.locator(".osis-async-task__status")).to_have_text("60%")
    page.wait_for_timeout(500)  # the width eases to its new value
    assert bar.evaluate("e => e.firstElementChild.getBoundingClientRect().width") > width_at_20

    update_task(uuid, state=TaskState.DONE, completed_at=timezone.now())
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=POLL_TIMEOUT_MS)
    expect(bar).to_have_class(re.compile(r"osis-async-progress--done"))
    expect(item.locator(".osis-async-task__status")).to_have_text("Done")
    expect(item.locator("time")).to_have_text(
        re.compile(r"^Completed .*\((now|\d+ seconds? ago)\)$")
    )
    color = bar.evaluate("e => getComputedStyle(e.firstElementChild).backgroundColor")
    assert _is_green(color), color
    expect(page.locator("#async-tasks-viewer [aria-live=polite]")).to_have_text(
        "Task “Grades import” finished."
    )
    expect(panel).to_be_visible()


def test_failing_task_turns_red_with_an_error_label(open_page: Any, demo_user: Any) -> None:
    uuid = create(demo_user, "Stuck synchronisation", state=TaskState.PROCESSING, progression=35)
    page = open_page("/")
    open_widget(page)
    item = task_item(page, "Stuck synchronisation")
    # The widget announces an end it saw happen: it must have shown the task running first.
    expect(item.locator(".osis-async-task__status")).to_have_text("35%")

    try:
        raise RuntimeError("Row 274 has an unknown student id.")
    except RuntimeError as error:
        update_task(uuid, state=TaskState.ERROR, exception=error)

    bar = item.get_by_role("progressbar")
    expect(bar).to_have_class(re.compile(r"osis-async-progress--error"), timeout=POLL_TIMEOUT_MS)
    label = item.locator(".osis-async-task__status")
    expect(label).to_have_text("Error")
    assert _is_red(label.evaluate("e => getComputedStyle(e).color"))
    assert _is_red(bar.evaluate("e => getComputedStyle(e.firstElementChild).backgroundColor"))
    expect(item.locator("time")).to_have_text(re.compile(r"^Failed "))
    expect(page.locator("#async-tasks-viewer [aria-live=polite]")).to_have_text(
        "Task “Stuck synchronisation” failed."
    )


def test_custom_event_refreshes_at_once(open_page: Any, demo_user: Any) -> None:
    page = open_page("/")
    panel = open_widget(page)
    expect(panel).to_contain_text("No tasks.")

    # Nothing runs, so without the event the next poll is data-interval (300 s) away.
    create(demo_user, "Finished elsewhere", state=TaskState.DONE)
    page.wait_for_timeout(1_000)
    expect(panel).to_contain_text("No tasks.")
    page.evaluate(REFRESH)
    expect(task_item(page, "Finished elsewhere")).to_be_visible(timeout=2_000)


def test_load_more_adds_the_next_page(open_page: Any, demo_user: Any) -> None:
    for number in range(1, 18):
        create(demo_user, f"Batch {number:02}", state=TaskState.DONE)
    page = open_page("/")
    panel = open_widget(page)
    names = panel.locator(".osis-async-task__name")
    expect(names).to_have_count(15)
    expect(names.first).to_have_text("Batch 17")

    with page.expect_request(re.compile(r"limit=15&offset=15")):
        panel.get_by_role("button", name="Load more").click()
    expect(names).to_have_count(17)
    assert names.all_inner_texts() == [f"Batch {number:02}" for number in range(17, 0, -1)]
    expect(panel.get_by_role("button", name="Load more")).to_have_count(0)

    # Later refreshes keep both pages, without duplicates.
    page.evaluate(REFRESH)
    page.wait_for_timeout(500)
    expect(names).to_have_count(17)


def test_french_page_shows_french(open_page: Any, demo_user: Any) -> None:
    create(demo_user, "Export", state=TaskState.PROCESSING, progression=40)
    create(demo_user, "Rapport", state=TaskState.DONE)
    page = open_page("/", locale="fr-BE")
    assert page.evaluate("document.documentElement.lang").startswith("fr")
    toggle = page.locator("#async-tasks-viewer .osis-async__toggle")
    expect(toggle).to_have_accessible_name("Tâches en arrière-plan, 1 tâche en cours")
    panel = open_widget(page)
    expect(panel.locator(".osis-async__title")).to_have_text("Tâches en arrière-plan")
    expect(task_item(page, "Rapport").locator(".osis-async-task__status")).to_have_text("Terminée")
    expect(task_item(page, "Export").locator(".osis-async-task__status")).to_have_text("40 %")
    expect(task_item(page, "Rapport").locator("time")).to_have_text(
        re.compile(r"^Terminée le .* \((maintenant|il y a \d+ secondes?)\)$")
    )


def test_markup_in_name_and_description_is_shown_as_text(open_page: Any, demo_user: Any) -> None:
    name = '<img src=x onerror="window.__xss=1">'
    description = "<script>window.__xss=1</script>"
    create(demo_user, name, description)
    page = open_page("/")
    open_widget(page)
    item = page.locator("#async-tasks-viewer .osis-async-task")
    expect(item.locator(".osis-async-task__name")).to_have_text(name)
    expect(item.locator(".osis-async-task__description")).to_have_text(description)
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#async-tasks-viewer img, #async-tasks-viewer script").count() == 0


def test_keyboard_opens_and_closes_the_dropdown(open_page: Any, demo_user: Any) -> None:
    for number in range(16):
        create(demo_user, f"Report {number}", state=TaskState.DONE)
    page = open_page("/")
    toggle = page.locator("#async-tasks-viewer .osis-async__toggle")
    panel = page.locator("#" + toggle.get_attribute("aria-controls"))
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(panel).to_be_hidden()

    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()

    page.keyboard.press("Space")
    expect(panel).to_be_visible()
    page.keyboard.press("Tab")
    expect(panel).to_be_focused()  # it scrolls: the keyboard can scroll it
    page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Dismiss Report 15")).to_be_focused()
    for _ in range(15):  # the 14 other rows' dismiss buttons, then the foot of the list
        page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Load more")).to_be_focused()
    page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Clear finished")).to_be_focused()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_be_focused()

    page.keyboard.press("Space")
    expect(panel).to_be_visible()
    page.locator("main h1").click()
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")


def test_open_widget_has_no_axe_violations(open_page: Any, demo_user: Any, axe_path: Path) -> None:
    _a_task_in_each_state(demo_user)
    page = open_page("/")
    open_widget(page)
    expect(page.locator("#async-tasks-viewer .osis-async-task")).to_have_count(4)
    page.add_script_tag(path=str(axe_path))
    result = page.evaluate("axe.run(document.querySelector('#async-tasks-viewer'))")
    violations = [
        f"{violation['id']}: {[node['target'] for node in violation['nodes']]}"
        for violation in result["violations"]
    ]
    assert violations == []
    assert result["passes"], "axe checked nothing"


def test_screenshot_of_the_open_widget(open_page: Any, demo_user: Any) -> None:
    # Fixed dates and a frozen page clock make the picture the same from one run to the next.
    moment = datetime(2025, 3, 14, 10, 0, tzinfo=dt_timezone.utc)
    _a_task_in_each_state(demo_user, moment)
    page = open_page("/", frozen_at=moment)
    panel = open_widget(page)
    expect(panel.locator(".osis-async-task")).to_have_count(4)
    expect(panel.locator("time").first).to_contain_text("Mar 14, 2025")
    page.mouse.move(0, 0)
    toggle_box = page.locator("#async-tasks-viewer .osis-async__toggle").bounding_box()
    panel_box = panel.bounding_box()
    left = min(toggle_box["x"], panel_box["x"]) - 16
    top = max(toggle_box["y"] - 16, 0)
    right = max(toggle_box["x"] + toggle_box["width"], panel_box["x"] + panel_box["width"]) + 16
    bottom = panel_box["y"] + panel_box["height"] + 16
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(SCREENSHOT),
        clip={"x": left, "y": top, "width": right - left, "height": bottom - top},
        animations="disabled",
    )
    assert SCREENSHOT.stat().st_size > 5_000


def _a_task_in_each_state(user: Any, moment: datetime | None = None) -> None:
    """Four tasks, newest first: pending, processing, done, failed; dated before ``moment``."""
    moment = moment or timezone.now()
    # name, description, state, progression; minutes before the moment it was created,
    # started and completed.
    tasks = [
        ("Grades import", "Imports grades from a spreadsheet.", TaskState.ERROR, None, 18, 16, 9),
        ("Yearly report", "Builds the PDF report of the year.", TaskState.DONE, None, 50, 48, 44),
        ("Students export", "Exports 12,000 students.", TaskState.PROCESSING, 64, 7, 6, None),
        ("Timetable sync", "Waits for a worker.", None, None, 2, None, None),
    ]
    for name, description, state, progression, created, started, completed in tasks:
        uuid = create(user, name, description)
        AsyncTask.objects.filter(uuid=uuid).update(created_at=moment - timedelta(minutes=created))
        if state is None:
            continue
        update_task(
            uuid,
            state=state,
            progression=progression,
            started_at=moment - timedelta(minutes=started) if started else None,
            completed_at=moment - timedelta(minutes=completed) if completed else None,
        )


def _rgb(color: str) -> tuple[int, int, int]:
    red, green, blue = (int(part) for part in re.findall(r"\d+", color)[:3])
    return red, green, blue


def _is_green(color: str) -> bool:
    red, green, blue = _rgb(color)
    return green > red + 40 and green > blue + 40


def _is_red(color: str) -> bool:
    red, green, blue = _rgb(color)
    return red > green + 80 and red > blue + 80
