"""A task's outcome for its person: the result to open (a URL, or a file in a real
``FileSystemStorage``), the reason it failed, and who may download the file."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from osis_async.exceptions import InvalidTaskUpdate, TaskFailed, TaskNotFound
from osis_async.listing import person_page
from osis_async.models import AsyncTask, TaskState
from osis_async.results import failure_message
from osis_async.retention import purge
from osis_async.utils import set_result, update_task
from tests.conftest import stored_files


def listed(client: Client) -> dict[str, Any]:
    (item,) = client.get(reverse("osis_async:task-list")).json()["results"]
    return item


def download(client: Client, task: AsyncTask) -> Any:
    """The result view's answer, its body read (``.body``) and its file closed."""
    return fetched(client, reverse("osis_async:task-result", args=[task.uuid]))


def fetched(client: Client, url: str) -> Any:
    response = client.get(url)
    if response.streaming:
        response.body = b"".join(response.streaming_content)
        response.close()
    else:
        response.body = response.content
    return response


# --- result URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://example.org/report.pdf", "http://example.org", "/exports/42/?page=2"]
)
def test_a_result_url_is_listed(url: str, make_task: Any, user: Any, user_client: Client) -> None:
    task = make_task(person=user)
    assert update_task(task.uuid, result_url=url) is True
    item = listed(user_client)
    assert (item["result_url"], item["result_label"], item["error_message"]) == (url, None, None)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/x",
        "/\\evil.example/x",
        "ftp://example.org/file",
        "https://",
        " /leading-space",
        "/with\nnewline",
        "report.pdf",
        "",
    ],
)
def test_other_result_urls_are_refused(url: str, make_task: Any, user: Any) -> None:
    task = make_task(person=user)
    with pytest.raises(InvalidTaskUpdate, match="result_url"):
        update_task(task.uuid, result_url=url)
    with pytest.raises(InvalidTaskUpdate, match="result_url"):
        set_result(task.uuid, url=url)
    task.refresh_from_db()
    assert task.result_url is None
    # Every way of writing a row checks it alike.
    task.result_url = url
    with pytest.raises(InvalidTaskUpdate, match="result_url"):
        task.save()
    with pytest.raises(InvalidTaskUpdate, match="result_url"):
        AsyncTask.objects.create(name="Export", person=user, result_url=url)
    assert not AsyncTask.objects.exclude(result_url=None).exists()


def test_set_result_needs_a_url_or_a_file(make_task: Any, user: Any) -> None:
    task = make_task(person=user)
    with pytest.raises(InvalidTaskUpdate, match="neither"):
        set_result(task.uuid)
    with pytest.raises(InvalidTaskUpdate, match="both"):
        set_result(task.uuid, url="/x", file=b"x", filename="x.txt")


@pytest.mark.django_db
def test_set_result_on_an_unknown_task_raises_and_keeps_no_file(storage_dir: Path) -> None:
    with pytest.raises(TaskNotFound):
        set_result("8b0b7c4e-7a43-4d69-9f39-0d8c8b0e3f11", file=b"x", filename="x.txt")
    assert stored_files(storage_dir) == []


def test_a_label_is_listed(make_task: Any, user: Any, user_client: Client) -> None:
    task = make_task(person=user, state=TaskState.DONE, completed_at=timezone.now())
    set_result(task.uuid, url="/exports/42/", label="Open the export")
    item = listed(user_client)
    assert (item["result_url"], item["result_label"]) == ("/exports/42/", "Open the export")


# --- result files -----------------------------------------------------------------------------


def test_a_file_is_served_to_its_owner_as_an_attachment(
    storage_dir: Path, make_task: Any, user: Any, user_client: Client
) -> None:
    task = make_task(person=user)
    set_result(task.uuid, file=b"id;name\n1;Ada\n", filename="students.csv")
    item = listed(user_client)
    assert item["result_url"] == f"/osis_async/tasks/{task.uuid}/result/"
    # Kept in the storage under a random folder, never under its bare name.
    (path,) = stored_files(storage_dir)
    assert path.name == "students.csv" and len(path.parent.name) == 32
    response = fetched(user_client, item["result_url"])
    assert response.status_code == 200
    assert response.body == b"id;name\n1;Ada\n"
    assert response["Content-Disposition"] == 'attachment; filename="students.csv"'
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "filename",
    ['Relevé "2026" élèves.pdf', "résumé;\u202e.txt", "日本語の報告書.xlsx", "a'b\"c.txt"],
)
def test_any_filename_comes_back_as_given(
    filename: str, storage_dir: Path, make_task: Any, user: Any, user_client: Client
) -> None:
    task = make_task(person=user)
    set_result(task.uuid, file=b"x", filename=filename)
    disposition = download(user_client, task)["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    if filename.isascii():
        assert disposition == "attachment; filename=" + json.dumps(filename)
    else:
        # RFC 6266 / RFC 5987: the exact name, percent-encoded in UTF-8.
        assert disposition == f"attachment; filename*=utf-8''{quote(filename)}"


def test_another_person_an_unknown_uuid_and_a_task_without_file_get_the_same_404(
    storage_dir: Path, make_task: Any, user: Any, other_user: Any, client: Client
) -> None:
    task = make_task(person=user)
    set_result(task.uuid, file=b"secret", filename="grades.csv")
    without_file = make_task(person=other_user)
    client.force_login(other_user)
    others = download(client, task)
    unknown = fetched(
        client, reverse("osis_async:task-result", args=["8b0b7c4e-7a43-4d69-9f39-0d8c8b0e3f11"])
    )
    no_file = download(client, without_file)
    assert others.status_code == unknown.status_code == no_file.status_code == 404
    assert others.content == unknown.content == no_file.content


def test_anonymous_is_refused(storage_dir: Path, make_task: Any, user: Any, client: Client) -> None:
    task = make_task(person=user)
    set_result(task.uuid, file=b"secret", filename="grades.csv")
    response = download(client, task)
    assert response.status_code in (401, 403)
    assert b"secret" not in response.body


def test_a_file_lost_by_its_storage_is_a_404(
    storage_dir: Path, make_task: Any, user: Any, user_client: Client
) -> None:
    task = make_task(person=user)
    set_result(task.uuid, file=b"x", filename="x.txt")
    for path in stored_files(storage_dir):
        path.unlink()
    assert download(user_client, task).status_code == 404


def test_a_new_result_replaces_the_old_file(
    storage_dir: Path,
    make_task: Any,
    user: Any,
    user_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    task = make_task(person=user)
    set_result(task.uuid, file=b"first", filename="a.txt")
    with django_capture_on_commit_callbacks(execute=False) as pending:
        set_result(task.uuid, file=b"second", filename="b.txt")
    # Until the change commits, the old file stays: a rollback would leave the row naming it.
    assert sorted(path.read_bytes() for path in stored_files(storage_dir)) == [b"first", b"second"]
    for callback in pending:
        callback()
    (path,) = stored_files(storage_dir)
    assert path.read_bytes() == b"second"
    with django_capture_on_commit_callbacks(execute=True):
        set_result(task.uuid, url="https://example.org/")
    assert stored_files(storage_dir) == []
    assert listed(user_client)["result_url"] == "https://example.org/"


@pytest.mark.django_db(transaction=True)
def test_the_file_is_deleted_with_its_task(storage_dir: Path, make_task: Any, user: Any) -> None:
    task = make_task(person=user)
    with open(__file__, "rb") as source:
        set_result(task.uuid, file=source, filename="source.py")
    assert len(stored_files(storage_dir)) == 1
    AsyncTask.objects.filter(pk=task.pk).delete()
    assert stored_files(storage_dir) == []


@pytest.mark.django_db(transaction=True)
def test_the_retention_purge_deletes_the_files(
    storage_dir: Path, make_task: Any, user: Any
) -> None:
    old = make_task(person=user, state=TaskState.DONE, completed_at=timezone.now())
    recent = make_task(person=user, state=TaskState.DONE, completed_at=timezone.now())
    set_result(old.uuid, file=b"old", filename="old.txt")
    set_result(recent.uuid, file=b"recent", filename="recent.txt")
    AsyncTask.objects.filter(pk=old.pk).update(
        completed_at=timezone.now() - datetime.timedelta(days=60)
    )
    assert purge(timezone.now() - datetime.timedelta(days=30)) == 1
    assert [path.read_bytes() for path in stored_files(storage_dir)] == [b"recent"]


def test_the_check_names_a_missing_storage(settings: Any) -> None:
    from osis_async.checks import check_result_storage

    settings.OSIS_ASYNC_RESULT_STORAGE = "nowhere"
    (error,) = check_result_storage()
    assert error.id == "osis_async.E027"
    assert "'nowhere'" in error.msg and "'default'" in error.msg


# --- failure reasons --------------------------------------------------------------------------


def test_error_message_is_listed(make_task: Any, user: Any, user_client: Client) -> None:
    task = make_task(person=user)
    update_task(
        task.uuid,
        state=TaskState.ERROR,
        exception=ValueError("password=hunter2"),
        error_message="Row 1644 has an unknown student id.",
    )
    item = listed(user_client)
    assert item["error_message"] == "Row 1644 has an unknown student id."
    assert "hunter2" not in json.dumps(item)


def test_a_task_failed_shows_its_message_another_exception_a_generic_one() -> None:
    assert failure_message(TaskFailed("Row 1644 has an unknown student id.")) == (
        "Row 1644 has an unknown student id."
    )
    assert "hunter2" not in failure_message(RuntimeError("password=hunter2"))
    with translation.override("fr"):
        assert failure_message(RuntimeError("x")) == (
            "La tâche a échoué à cause d'une erreur inattendue."
        )


def test_the_ttl_sweep_says_why_in_the_active_language(
    make_task: Any, user: Any, user_client: Client
) -> None:
    now = timezone.now()
    late = make_task(
        person=user,
        state=TaskState.PROCESSING,
        started_at=now - datetime.timedelta(minutes=10),
        time_to_live=5,
    )
    one = make_task(
        person=user,
        state=TaskState.PROCESSING,
        started_at=now - datetime.timedelta(minutes=10),
        time_to_live=1,
    )
    never = make_task(person=user)
    AsyncTask.objects.filter(pk=never.pk).update(created_at=now - datetime.timedelta(days=2))
    with translation.override("en"):
        call_command("check_async_task_ttl")
    reasons = dict(AsyncTask.objects.values_list("pk", "error_message"))
    assert reasons[late.pk] == "Did not finish within 5 minutes."
    assert reasons[one.pk] == "Did not finish within 1 minute."
    assert reasons[never.pk] == "Never started."
    assert set(AsyncTask.objects.values_list("state", flat=True)) == {TaskState.ERROR.value}


def test_the_sweep_in_french(make_task: Any, user: Any) -> None:
    late = make_task(
        person=user,
        state=TaskState.PROCESSING,
        started_at=timezone.now() - datetime.timedelta(minutes=10),
        time_to_live=5,
    )
    with translation.override("fr"):
        AsyncTask.objects.expire(timezone.now())
    late.refresh_from_db()
    assert late.error_message == "Ne s'est pas terminée en 5 minutes."


def test_the_sweep_keeps_a_reason_already_given(make_task: Any, user: Any) -> None:
    task = make_task(
        person=user,
        state=TaskState.PROCESSING,
        started_at=timezone.now() - datetime.timedelta(minutes=10),
        time_to_live=5,
    )
    AsyncTask.objects.filter(pk=task.pk).update(error_message="Own reason.")
    AsyncTask.objects.expire(timezone.now())
    task.refresh_from_db()
    assert (task.state, task.error_message) == (TaskState.ERROR, "Own reason.")


def test_the_page_function_and_sqlite_agree_on_a_file(
    storage_dir: Path, make_task: Any, user: Any
) -> None:
    task = make_task(person=user)
    set_result(task.uuid, file=b"x", filename="x.txt", label="Get it")
    (item,) = json.loads(person_page(user, 0, 15)[0])
    assert item["result_url"] == reverse("osis_async:task-result", args=[task.uuid])
    assert item["result_label"] == "Get it"
