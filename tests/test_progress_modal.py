from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.template.loader import get_template
from django.test import Client

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.django_db


def url(task: AsyncTask) -> str:
    return f"/osis_async/tasks/{task.uuid}/progress/"


def test_running_task_repolls_every_3_seconds(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(person=user, name="Export <b>now</b>")
    update_task(task.uuid, state=TaskState.PROCESSING, progression=35)
    html = user_client.get(url(task)).content.decode()
    assert f'hx-get="{url(task)}"' in html
    assert 'hx-trigger="every 3s"' in html and 'hx-swap="outerHTML"' in html
    assert 'aria-valuenow="35"' in html and "width: 35%" in html
    assert "Export &lt;b&gt;now&lt;/b&gt;" in html


def test_finished_task_stops_polling(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(person=user)
    update_task(task.uuid, state=TaskState.DONE)
    html = user_client.get(url(task)).content.decode()
    assert "hx-trigger" not in html
    assert "The task is done." in html


def test_other_peoples_tasks_are_404(
    user_client: Client, other_user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    assert user_client.get(url(make_task(person=other_user))).status_code == 404
    assert user_client.get(url(make_task(person=None))).status_code == 404
    assert Client().get(url(make_task(person=other_user))).status_code == 403


def test_blocks_can_be_overridden() -> None:
    source = get_template("osis_async/modal_async_progress.html").template.source
    for block in ("modal_title", "task_finished", "modal_footer"):
        assert f"{{% block {block} %}}" in source


def test_the_modal_links_old_descriptions_and_shows_the_outcome(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    done = make_task(
        person=user,
        description=(
            'Ready: <a href="/media/x.pdf">Download</a> <a href="javascript:alert(1)">x</a>'
        ),
    )
    update_task(done.uuid, state=TaskState.DONE, result_url="https://example.org/r")
    html = user_client.get(url(done)).content.decode()
    assert '<a href="/media/x.pdf" target="_blank" rel="noopener noreferrer">Download</a>' in html
    assert "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;" in html
    assert 'href="https://example.org/r"' in html and ">Open</a>" in html
    failed = make_task(person=user)
    update_task(
        failed.uuid,
        state=TaskState.ERROR,
        exception=RuntimeError("password=hunter2"),
        error_message="Row 1644 has an unknown student id.",
    )
    html = user_client.get(url(failed)).content.decode()
    assert "Row 1644 has an unknown student id." in html
    assert "hunter2" not in html
    assert "osis-async-modal-result" not in html
