from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/osis_async/asynctask/"


@pytest.fixture
def admin_client() -> Client:
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client = Client()
    client.force_login(admin)
    return client


def test_changelist_shows_progress_and_filters_by_state(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    running = make_task(name="Running export")
    update_task(running.uuid, state=TaskState.PROCESSING, progression=37)
    make_task(name="Queued report")
    page = admin_client.get(CHANGELIST).content.decode()
    assert '<progress max="100" value="37"' in page
    assert "Running export" in page and "Queued report" in page
    filtered = admin_client.get(CHANGELIST, {"state__exact": "PROCESSING"}).content.decode()
    assert "Running export" in filtered and "Queued report" not in filtered


def test_search_by_name_and_uuid(admin_client: Client, make_task: Callable[..., AsyncTask]) -> None:
    wanted = make_task(name="Grades import")
    make_task(name="Yearly report")
    by_name = admin_client.get(CHANGELIST, {"q": "grades"}).content.decode()
    assert "Grades import" in by_name and "Yearly report" not in by_name
    by_uuid = admin_client.get(CHANGELIST, {"q": str(wanted.uuid)}).content.decode()
    assert "Grades import" in by_uuid and "Yearly report" not in by_uuid
    assert admin_client.get(CHANGELIST, {"q": "not-a-uuid"}).status_code == 200


def test_change_page_is_read_only_and_shows_the_traceback(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(name="<b>bold</b>")
    update_task(task.uuid, state=TaskState.ERROR, exception=ValueError("<script>x</script>"))
    page = admin_client.get(f"{CHANGELIST}{task.pk}/change/").content.decode()
    assert "ValueError: &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page
    assert 'name="traceback"' not in page and 'name="state"' not in page
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_action_marks_running_tasks_as_errored(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    running = make_task(name="running")
    update_task(running.uuid, state=TaskState.PROCESSING)
    done = make_task(name="done")
    update_task(done.uuid, state=TaskState.DONE)
    response = admin_client.post(
        CHANGELIST,
        {"action": "mark_errored", "_selected_action": [running.pk, done.pk]},
        follow=True,
    )
    assert "1 running task marked as errored." in response.content.decode()
    states = dict(AsyncTask.objects.values_list("name", "state"))
    assert states == {"running": "ERROR", "done": "DONE"}
    assert AsyncTask.objects.get(pk=running.pk).completed_at is not None


def test_admin_for_person_list(
    admin_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(person=user, name="owned")
    assert "alice" in admin_client.get(CHANGELIST).content.decode()
