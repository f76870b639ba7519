"""The bundle dropped into different host pages: it mounts, works and looks the same in each."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.e2e

expect: Any = pytest.importorskip("playwright.sync_api").expect

FLAVOURS = ["plain", "bootstrap3", "bootstrap5", "seed"]

# What a host stylesheet could change and the widget must keep as it sets it.
LOOK = """root => {
  const style = (selector, ...names) => {
    const computed = getComputedStyle(root.querySelector(selector))
    return Object.fromEntries(names.map(name => [selector + ' ' + name, computed[name]]))
  }
  const size = selector => {
    const box = root.querySelector(selector).getBoundingClientRect()
    return [selector, Math.round(box.width), Math.round(box.height)]
  }
  return {
    ...style('.osis-async__panel', 'fontSize', 'lineHeight', 'fontFamily', 'boxSizing', 'color'),
    ...style('.osis-async__list', 'paddingLeft', 'marginTop', 'marginBottom', 'listStyleType'),
    ...style('.osis-async-task__name', 'fontWeight', 'fontSize'),
    ...style('.osis-async-task__description', 'marginTop', 'marginBottom'),
    ...style('.osis-async__toggle', 'borderRadius', 'paddingTop', 'paddingLeft'),
    sizes: ['.osis-async__toggle', '.osis-async__panel', '.osis-async-progress',
      '.osis-async__badge'].map(size),
  }
}"""


@pytest.fixture
def tasks(demo_user: Any) -> None:
    for name, state, progression in [
        ("Grades import", TaskState.ERROR, 40),
        ("Yearly report", TaskState.DONE, 100),
        ("Students export", TaskState.PROCESSING, 64),
        ("Timetable sync", None, None),
    ]:
        uuid = AsyncTask.objects.create(
            name=name, description=f"{name}, as a host page shows it.", person=demo_user
        ).uuid
        if state is not None:
            # Started long enough ago for its time left to show in every host alike.
            started = timezone.now() - timedelta(minutes=10)
            update_task(uuid, state=state, progression=progression, started_at=started)


def open_widget(page: Any) -> Any:
    page.locator("#async-tasks-viewer .osis-async__toggle").click()
    panel = page.locator("#async-tasks-viewer .osis-async__panel")
    expect(panel.locator(".osis-async-task")).to_have_count(4)
    return panel


def test_widget_looks_the_same_in_every_host(open_page: Any, tasks: None, tmp_path: Path) -> None:
    looks = {}
    for flavour in FLAVOURS:
        page = open_page(f"/e2e/{flavour}/")
        panel = open_widget(page)
        page.mouse.move(0, 0)
        page.screenshot(path=str(tmp_path / f"{flavour}.png"))

        # The panel lies over the host's content, inside the window.
        box = panel.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1100, flavour
        on_top = page.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y).closest('.osis-async__panel')",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert on_top, f"something of the {flavour} page covers the panel"
        looks[flavour] = page.locator("#async-tasks-viewer .osis-async").evaluate(LOOK)

    plain = looks["plain"]
    assert plain[".osis-async__panel fontSize"] == "14px"
    assert plain[".osis-async__list paddingLeft"] == "0px"
    assert plain[".osis-async__list listStyleType"] == "none"
    assert plain[".osis-async-task__description marginBottom"] == "0px"
    for flavour in FLAVOURS[1:]:
        assert looks[flavour] == plain, f"the widget looks different in the {flavour} page"


def test_seed_host_keeps_its_own_vue_jquery_and_bootstrap(open_page: Any, tasks: None) -> None:
    page = open_page("/e2e/seed/")
    open_widget(page)
    assert page.evaluate("window.Vue === window.__hostVue && typeof Vue.createApp") == "function"
    assert page.evaluate("typeof OsisAsync.mount") == "function"
    assert page.evaluate("typeof jQuery.fn.dropdown") == "function"

    # The host's Bootstrap dropdown still works next to the widget.
    page.get_by_role("button", name="Menu").click()
    expect(page.locator("li.dropdown.open")).to_have_count(1)
    expect(page.locator("#async-tasks-viewer .osis-async__panel")).to_be_hidden()


def test_bundle_alone_needs_nothing_else(open_page: Any, tasks: None) -> None:
    page = open_page("/e2e/plain/")
    globals_ = page.evaluate("[typeof Vue, typeof jQuery, typeof OsisAsync]")
    assert globals_ == ["undefined", "undefined", "object"]
    open_widget(page)
    expect(page.locator("#async-tasks-viewer .osis-async__badge")).to_have_text("2")


def test_a_page_can_hold_more_than_one_viewer(open_page: Any, tasks: None) -> None:
    page = open_page("/e2e/plain/")
    second = page.locator(".second-viewer")
    expect(second.locator(".osis-async__badge")).to_have_text("2")
    second.locator(".osis-async__toggle").click()
    expect(second.locator(".osis-async-task")).to_have_count(4)
    expect(page.locator("#async-tasks-viewer .osis-async__panel")).to_be_hidden()
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) == len(set(ids))


def test_mount_function_of_the_global(open_page: Any, tasks: None) -> None:
    page = open_page("/e2e/plain/")
    page.evaluate(
        """() => {
          const element = document.createElement('div')
          element.id = 'by-hand'
          document.querySelector('main').append(element)
          const url = document.querySelector('#async-tasks-viewer').dataset.url
          OsisAsync.mount(element, { url })
        }"""
    )
    expect(page.locator("#by-hand .osis-async__badge")).to_have_text("2")
