"""In a real browser: a done task's download button fetches its file, a failed task shows its
reason under the bar, and an old description's download link is a real link; axe finds
nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from osis_async.models import TaskState
from osis_async.utils import set_result
from tests.e2e.test_widget import create, open_widget, task_item

pytestmark = pytest.mark.e2e

expect: Any = pytest.importorskip("playwright.sync_api").expect


def test_the_download_button_the_reason_and_old_links(
    open_page: Any, demo_user: Any, storage_dir: Path, axe_path: Path
) -> None:
    done = create(demo_user, "Students export", state=TaskState.DONE)
    set_result(done, file=b"id;name\n1;Ada\n", filename="Élèves 2026.csv")
    create(
        demo_user,
        "Import",
        state=TaskState.ERROR,
        error_message="Row 1644 has an unknown student id.",
    )
    create(
        demo_user,
        "Admission",
        'Ready: <a href="/osis_async/tasks/">Download</a> <a href="javascript:alert(1)">x</a>',
        state=TaskState.DONE,
    )
    page = open_page("/")
    open_widget(page)

    failed = task_item(page, "Import")
    expect(failed.locator(".osis-async-task__error")).to_have_text(
        "Row 1644 has an unknown student id."
    )

    old = task_item(page, "Admission").locator(".osis-async-task__description")
    expect(old.locator("a")).to_have_count(1)
    expect(old.locator("a")).to_have_attribute("rel", "noopener noreferrer")
    expect(old).to_contain_text('<a href="javascript:alert(1)">x</a>')

    button = task_item(page, "Students export").get_by_role(
        "link", name="Download: Students export"
    )
    expect(button).to_be_visible()
    button.focus()
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    download = info.value
    assert download.suggested_filename == "Élèves 2026.csv"
    assert Path(download.path()).read_bytes() == b"id;name\n1;Ada\n"

    page.add_script_tag(path=str(axe_path))
    result = page.evaluate("axe.run(document.querySelector('#async-tasks-viewer'))")
    assert [violation["id"] for violation in result["violations"]] == []
