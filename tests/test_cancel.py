"""Cancel, dismiss and clear finished: the endpoints, ``cancel_task``, the admin action, and a
tracked job told of a cancel at its next report (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from osis_async.exceptions import TaskCancelled, TaskNotFound
from osis_async.integrations import django_tasks as tracked_tasks
from osis_async.integrations.tracking import Tracker
from osis_async.models import AsyncTask, TaskState
from osis_async.results import set_result
from osis_async.utils import cancel_task, is_cancel_requested, update_task
from tests.conftest import stored_files

try:
    from django.tasks import task  # type: ignore[attr-defined,unused-ignore]
except ImportError:
    from django_tasks import task  # type: ignore[no-redef,unused-ignore]


def cancel_url(task_uuid: object) -> str:
    return reverse("osis_async:task-cancel", args=[task_uuid])


def dismiss_url(task_uuid: object) -> str:
    return reverse("osis_async:task-dismiss", args=[task_uuid])


CLEAR_URL = reverse("osis_async:task-dismiss-finished")


def running(make_task: Any, person: Any, **fields: Any) -> AsyncTask:
    return make_task(person=person, state=TaskState.PROCESSING, started_at=timezone.now(), **fields)


def finished(make_task: Any, person: Any, state: TaskState = TaskState.DONE) -> AsyncTask:
    now = timezone.now()
    return make_task(person=person, state=state, started_at=now, completed_at=now)


def listed(client: Client) -> dict[str, Any]:
    return client.get(reverse("osis_async:task-list")).json()


# --- cancel ------------------------------------------------------------------------------------


def test_a_pending_task_is_cancelled_at_once(user_client: Client, user: Any, make_task: Any):
    task = make_task(person=user)
    before = listed(user_client)
    assert before["pending_count"] == 1

    response = user_client.post(cancel_url(task.uuid))

    assert response.status_code == 202
    item = response.json()
    assert item["uuid"] == str(task.uuid)
    assert item["state"] == "CANCELLED"
    assert item["completed_at"] is not None
    assert item["cancel_requested"] is False
    after = listed(user_client)
    assert after["pending_count"] == 0, "a cancelled task is not pending"
    assert after["count"] == 1
    assert after["results"][0] == item, "the 202 body is the task's list item"
    row = AsyncTask.objects.get(pk=task.pk)
    assert row.state == TaskState.CANCELLED and row.is_finished
    assert row.completed_at is not None and row.cancel_requested_at is not None


def test_a_processing_task_is_told(user_client: Client, user: Any, make_task: Any) -> None:
    task = running(make_task, user, progression=40)
    etag = user_client.get(reverse("osis_async:task-list"))["ETag"]

    response = user_client.post(cancel_url(task.uuid))

    assert response.status_code == 202
    item = response.json()
    assert (item["state"], item["cancel_requested"], item["progression"]) == (
        "PROCESSING",
        True,
        40,
    )
    page = user_client.get(reverse("osis_async:task-list"))
    assert page["ETag"] != etag, "the list's version moves with the request"
    assert page.json()["results"][0]["cancel_requested"] is True
    assert page.json()["pending_count"] == 1, "still running until the job stops"
    assert is_cancel_requested(task.uuid)
    # Asking again changes nothing.
    asked_at = AsyncTask.objects.get(pk=task.pk).cancel_requested_at
    assert user_client.post(cancel_url(task.uuid)).status_code == 202
    assert AsyncTask.objects.get(pk=task.pk).cancel_requested_at == asked_at


@pytest.mark.parametrize("state", [TaskState.DONE, TaskState.ERROR, TaskState.CANCELLED])
def test_a_finished_task_cannot_be_cancelled(
    user_client: Client, user: Any, make_task: Any, state: TaskState
) -> None:
    task = finished(make_task, user, state)
    response = user_client.post(cancel_url(task.uuid))
    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response.json()["state"] == state.value
    assert state.value in response.json()["detail"]
    row = AsyncTask.objects.get(pk=task.pk)
    assert (row.state, row.cancel_requested_at) == (state, None), "nothing written"


def test_another_persons_task_is_the_same_404_as_an_unknown_one(
    user_client: Client, other_user: Any, make_task: Any
) -> None:
    theirs = make_task(person=other_user)
    for url in (cancel_url(theirs.uuid), dismiss_url(theirs.uuid)):
        response = user_client.post(url)
        unknown = user_client.post(url.replace(str(theirs.uuid), str(uuid.uuid4())))
        assert response.status_code == unknown.status_code == 404
        assert response.json() == unknown.json()
    assert AsyncTask.objects.get(pk=theirs.pk).state == TaskState.PENDING


def test_a_task_of_nobody_is_404(user_client: Client, make_task: Any) -> None:
    orphan = make_task(person=None)
    assert user_client.post(cancel_url(orphan.uuid)).status_code == 404


def test_anonymous_requests_are_refused(client: Client, user: Any, make_task: Any) -> None:
    task = make_task(person=user)
    for url in (cancel_url(task.uuid), dismiss_url(task.uuid), CLEAR_URL):
        response = client.post(url)
        assert response.status_code in (401, 403)
        assert response["Content-Type"] == "application/json"
    assert AsyncTask.objects.get(pk=task.pk).state == TaskState.PENDING


def test_session_requests_need_the_csrf_token(user: Any, make_task: Any) -> None:
    task = make_task(person=user)
    done = finished(make_task, user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    for url in (cancel_url(task.uuid), dismiss_url(done.uuid), CLEAR_URL):
        response = client.post(url)
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
    assert AsyncTask.objects.get(pk=task.pk).state == TaskState.PENDING
    assert AsyncTask.objects.filter(pk=done.pk).exists()

    # What a page of the site hands the browser: the cookie, and the token the widget sends.
    page = RequestFactory().get("/")
    token = get_token(page)
    client.cookies["csrftoken"] = page.META["CSRF_COOKIE"]
    response = client.post(cancel_url(task.uuid), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 202


def test_only_post_is_allowed(user_client: Client, user: Any, make_task: Any) -> None:
    task = make_task(person=user)
    assert user_client.get(cancel_url(task.uuid)).status_code == 405
    assert user_client.put(dismiss_url(task.uuid)).status_code == 405


def test_cancel_task_in_python(make_task: Any, user: Any) -> None:
    pending = make_task(person=user)
    done = finished(make_task, user)
    assert cancel_task(pending.uuid) is True
    assert AsyncTask.objects.get(pk=pending.pk).state == TaskState.CANCELLED
    assert cancel_task(str(done.uuid)) is False
    assert AsyncTask.objects.get(pk=done.pk).state == TaskState.DONE
    with pytest.raises(TaskNotFound):
        cancel_task(uuid.uuid4())
    with pytest.raises(TaskNotFound):
        is_cancel_requested(uuid.uuid4())


def test_a_hand_written_worker_sees_the_cancel(make_task: Any, user: Any) -> None:
    task = running(make_task, user)
    assert is_cancel_requested(task.uuid) is False
    cancel_task(task.uuid)
    assert is_cancel_requested(task.uuid) is True
    assert update_task(task.uuid, progression=50) is True, "running until the worker stops"
    assert update_task(task.uuid, state=TaskState.CANCELLED) is True
    row = AsyncTask.objects.get(pk=task.pk)
    assert row.state == TaskState.CANCELLED and row.completed_at is not None
    assert update_task(task.uuid, progression=60) is False, "finished is final"
    assert update_task(task.uuid, state=TaskState.DONE) is False
    assert AsyncTask.objects.get(pk=task.pk).progression == 50


# --- dismiss and clear -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_dismiss_deletes_a_finished_task_and_its_file(
    user: Any, make_task: Any, storage_dir: Path
) -> None:
    client = Client()
    client.force_login(user)
    task = make_task(person=user)
    set_result(task.uuid, file=b"%PDF", filename="report.pdf")
    update_task(task.uuid, state=TaskState.DONE)
    assert len(stored_files(storage_dir)) == 1
    etag = client.get(reverse("osis_async:task-list"))["ETag"]

    response = client.post(dismiss_url(task.uuid))

    assert response.status_code == 204
    assert response.content == b""
    assert not AsyncTask.objects.filter(pk=task.pk).exists()
    assert stored_files(storage_dir) == [], "the result file goes with its task"
    page = client.get(reverse("osis_async:task-list"))
    assert page["ETag"] != etag
    assert page.json()["count"] == 0
    assert client.post(dismiss_url(task.uuid)).status_code == 404


@pytest.mark.parametrize("state", [TaskState.PENDING, TaskState.PROCESSING])
def test_a_running_task_cannot_be_dismissed(
    user_client: Client, user: Any, make_task: Any, state: TaskState
) -> None:
    task = make_task(
        person=user, state=state, started_at=timezone.now() if state == "PROCESSING" else None
    )
    response = user_client.post(dismiss_url(task.uuid))
    assert response.status_code == 409
    assert response.json()["state"] == state.value
    assert AsyncTask.objects.filter(pk=task.pk).exists()


def test_clear_finished_in_one_statement(
    user_client: Client, user: Any, other_user: Any, make_task: Any
) -> None:
    mine = [finished(make_task, user, state) for state in TaskState.finished()]
    still_running = [make_task(person=user), running(make_task, user)]
    theirs = finished(make_task, other_user)

    with CaptureQueriesContext(connection) as queries:
        response = user_client.post(CLEAR_URL)

    assert response.status_code == 200
    assert response.json() == {"dismissed": len(mine)}
    deletes = [query["sql"] for query in queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 1, deletes
    left = set(AsyncTask.objects.values_list("pk", flat=True))
    assert left == {task.pk for task in still_running} | {theirs.pk}
    page = listed(user_client)
    assert (page["count"], page["pending_count"]) == (2, 2)
    assert user_client.post(CLEAR_URL).json() == {"dismissed": 0}


# --- the admin ---------------------------------------------------------------------------------


def test_the_admin_action_cancels(make_user: Any, user: Any, make_task: Any) -> None:
    admin = make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    pending, processing = make_task(person=user), running(make_task, user)
    done = finished(make_task, user)
    response = client.post(
        reverse("admin:osis_async_asynctask_changelist"),
        {"action": "cancel", "_selected_action": [pending.pk, processing.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 running tasks cancelled" in response.content.decode()
    states = dict(AsyncTask.objects.values_list("pk", "state"))
    assert states == {
        pending.pk: TaskState.CANCELLED,
        processing.pk: TaskState.PROCESSING,
        done.pk: TaskState.DONE,
    }
    assert AsyncTask.objects.get(pk=processing.pk).cancel_requested_at is not None


# --- a tracked job told of the cancel ----------------------------------------------------------


@pytest.fixture
def person(transactional_db: None) -> Any:
    return get_user_model().objects.create(username=f"user-{uuid.uuid4().hex[:8]}")


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_running_job_stops_at_its_next_report(person: Any) -> None:
    row = AsyncTask.objects.create(name="Export", person=person)
    tracker = Tracker(row.uuid, interval=0.05)
    tracker.start()
    progress = tracker.progress
    progress.report(10)
    wait_until(lambda: AsyncTask.objects.get(pk=row.pk).progression == 10)
    assert progress.cancelled is False

    cancel_task(row.uuid)
    asked = time.monotonic()
    wait_until(lambda: tracker.cancel_requested, timeout=2.0)
    told_within = time.monotonic() - asked
    assert told_within < 0.5, f"told after {told_within:.2f} s"
    with pytest.raises(TaskCancelled):
        progress.report(20)
    with pytest.raises(TaskCancelled):  # and at every report after
        progress.report(30)
    assert tracker.cancel() is True

    task = AsyncTask.objects.get(pk=row.pk)
    assert task.state == TaskState.CANCELLED
    assert task.completed_at is not None and task.completed_at >= task.started_at
    assert task.progression == 10, "the progress reached stays visible"


def test_a_job_cancelled_before_its_start_was_written_stops_too(person: Any) -> None:
    row = AsyncTask.objects.create(name="Export", person=person)
    tracker = Tracker(row.uuid, interval=0.05)
    tracker.start()  # its PROCESSING is written START_DELAY later
    cancel_task(row.uuid)
    assert AsyncTask.objects.get(pk=row.pk).state == TaskState.CANCELLED
    wait_until(lambda: tracker.cancel_requested, timeout=2.0)
    with pytest.raises(TaskCancelled):
        tracker.progress.report(50)
    tracker.cancel()
    task = AsyncTask.objects.get(pk=row.pk)
    assert task.state == TaskState.CANCELLED and task.completed_at is not None


def test_a_loop_that_checks_cancelled_ends_cancelled(person: Any) -> None:
    row = AsyncTask.objects.create(name="Export", person=person)
    tracker = Tracker(row.uuid, interval=0.05)
    tracker.start()
    wait_until(lambda: AsyncTask.objects.get(pk=row.pk).state == TaskState.PROCESSING)
    cancel_task(row.uuid)
    wait_until(lambda: tracker.progress.cancelled, timeout=2.0)
    assert tracker.succeed() is True, "the job returned early"
    assert AsyncTask.objects.get(pk=row.pk).state == TaskState.CANCELLED


def test_a_report_without_a_cancel_touches_no_database(person: Any) -> None:
    row = AsyncTask.objects.create(name="Export", person=person)
    tracker = Tracker(row.uuid)
    tracker.start()
    with CaptureQueriesContext(connection) as queries:
        for i in range(1_000_000):
            tracker.progress.report(i, 1_000_000)
    assert len(queries) == 0, "the job's thread sends nothing"
    tracker.succeed()
    assert tracker.writes <= 100, f"{tracker.writes} writes for a million reports"
    assert AsyncTask.objects.get(pk=row.pk).state == TaskState.DONE


def test_only_the_cancelled_job_of_several_is_told(person: Any) -> None:
    rows = [AsyncTask.objects.create(name=f"Job {n}", person=person) for n in range(3)]
    trackers = [Tracker(row.uuid, interval=0.05) for row in rows]
    for tracker in trackers:
        tracker.start()
    cancel_task(rows[1].uuid)
    wait_until(lambda: trackers[1].cancel_requested, timeout=2.0)
    time.sleep(0.3)
    assert [tracker.cancel_requested for tracker in trackers] == [False, True, False]
    for tracker in trackers:
        tracker.succeed()


# --- django.tasks --------------------------------------------------------------------------


BODY_RAN = threading.Event()


@tracked_tasks.tracked_task(name="Mailing")
@task()
def mailing(steps: int) -> str:
    BODY_RAN.set()
    for step in range(steps):
        tracked_tasks.progress().report(step, steps)
        time.sleep(0.02)
    return "sent"


def run(row: AsyncTask, steps: int = 5) -> Any:
    return mailing.call(steps, **{tracked_tasks.TASK_KWARG: str(row.uuid)})


def test_a_django_task_cancelled_before_it_starts_never_runs(person: Any) -> None:
    BODY_RAN.clear()
    row = AsyncTask.objects.create(name="Mailing", person=person)
    cancel_task(row.uuid)
    assert run(row) is None
    assert not BODY_RAN.is_set(), "the body never ran"
    assert AsyncTask.objects.get(pk=row.pk).state == TaskState.CANCELLED


def test_a_django_task_requeued_after_a_cancel_was_asked_never_runs(person: Any) -> None:
    BODY_RAN.clear()
    row = AsyncTask.objects.create(
        name="Mailing", person=person, cancel_requested_at=timezone.now()
    )
    assert run(row) is None
    assert not BODY_RAN.is_set()
    task = AsyncTask.objects.get(pk=row.pk)
    assert task.state == TaskState.CANCELLED and task.completed_at is not None


def test_a_running_django_task_stops_cancelled(person: Any) -> None:
    row = AsyncTask.objects.create(name="Mailing", person=person)
    result: list[Any] = []

    def work() -> None:
        try:
            result.append(run(row, steps=500))
        finally:
            connections.close_all()  # this thread's own

    worker = threading.Thread(target=work)
    worker.start()
    wait_until(lambda: AsyncTask.objects.get(pk=row.pk).state == TaskState.PROCESSING, 5)
    cancel_task(row.uuid)
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert result == [None]
    task = AsyncTask.objects.get(pk=row.pk)
    assert task.state == TaskState.CANCELLED
    assert 0 <= task.progression < 100


# --- the OpenAPI document ------------------------------------------------------------------


def test_the_openapi_document_describes_the_actions(user_client: Client) -> None:
    document = user_client.get("/osis_async/schema/?format=json").json()
    paths = document["paths"]
    expected = {
        "/osis_async/tasks/{uuid}/cancel/": {"202", "404", "409"},
        "/osis_async/tasks/{uuid}/dismiss/": {"204", "404", "409"},
        "/osis_async/tasks/dismiss-finished/": {"200"},
    }
    for path, statuses in expected.items():
        operation = paths[path]["post"]
        assert set(operation["responses"]) == statuses, path
        assert "requestBody" not in operation
        assert set(paths[path]) == {"post"}, "POST only"
    cancel = paths["/osis_async/tasks/{uuid}/cancel/"]["post"]["responses"]
    assert cancel["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/AsyncTask")
    conflict = document["components"]["schemas"]["TaskConflict"]["properties"]
    assert set(conflict) == {"detail", "state"}
    assert "CANCELLED" in document["components"]["schemas"]["StateEnum"]["enum"]
    dismissed = document["components"]["schemas"]["Dismissed"]["properties"]
    assert dismissed["dismissed"]["type"] == "integer"


# --- the cancel watch, the Celery receipt check, edge cases ------------------------------------


class FakeWriter:
    def __init__(self) -> None:
        self.scheduled: list[float] = []

    def schedule(self, due: Any, at: float) -> None:
        self.scheduled.append(at)


class FakeTracker:
    def __init__(self, task_uuid: uuid.UUID) -> None:
        self.uuid = task_uuid
        self.ended = False
        self.cancel_requested = False


def test_the_watch_looks_up_the_due_jobs_in_one_query(person: Any) -> None:
    from osis_async.integrations.tracking.cancel_watch import CancelWatch

    rows = [AsyncTask.objects.create(name=f"Job {n}", person=person) for n in range(4)]
    trackers = [FakeTracker(row.uuid) for row in rows]
    writer = FakeWriter()
    watch = CancelWatch(writer)  # type: ignore[arg-type]
    for tracker in trackers[:3]:
        watch.watch(tracker, 0.0)  # type: ignore[arg-type]
    watch.watch(trackers[3], 60.0)  # type: ignore[arg-type]  (too young to be looked up)
    assert len(writer.scheduled) == 1, "one look scheduled for all of them"
    for row in (rows[1], rows[3]):
        cancel_task(row.uuid)

    with CaptureQueriesContext(connection) as queries:
        watch.flush_due()

    assert len(queries) == 1
    assert str(rows[3].uuid.hex) not in queries[0]["sql"].replace("-", ""), "not due yet"
    assert [tracker.cancel_requested for tracker in trackers] == [False, True, False, False]
    assert len(writer.scheduled) == 2, "the next look, while jobs are watched"
    trackers[0].ended = trackers[2].ended = True
    with CaptureQueriesContext(connection) as queries:
        watch.flush_due()
    assert len(queries) == 0, "the only job left is not due: no query"
    trackers[3].ended = True
    watch.flush_due()
    assert len(writer.scheduled) == 3, "nothing watched: the last look"
    watch.flush_due()
    assert len(writer.scheduled) == 3


def test_the_watch_goes_on_after_a_failed_look(person: Any, monkeypatch: Any) -> None:
    from osis_async.integrations.tracking.cancel_watch import CancelWatch

    row = AsyncTask.objects.create(name="Job", person=person)
    tracker = FakeTracker(row.uuid)
    writer = FakeWriter()
    watch = CancelWatch(writer)  # type: ignore[arg-type]
    watch.watch(tracker, 0.0)  # type: ignore[arg-type]
    monkeypatch.setattr(watch, "_look", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        watch.flush_due()
    assert len(writer.scheduled) == 2, "rescheduled whatever the look raised"
    monkeypatch.undo()
    cancel_task(row.uuid)
    watch.flush_due()
    assert tracker.cancel_requested


def test_a_celery_worker_leaves_only_first_attempts_sent_while_it_ran_to_the_revoke(
    monkeypatch: Any,
) -> None:
    from types import SimpleNamespace

    from osis_async.integrations import celery as tracked_celery

    now = time.time()
    monkeypatch.setattr(tracked_celery, "_ready_at", now - 3600)
    first = SimpleNamespace(request_dict={"retries": 0})
    retry = SimpleNamespace(request_dict={"retries": 1})
    reached = tracked_celery._revoke_reached_this_worker
    assert reached({"sent_at": now - 60}, first) is True
    assert reached({"sent_at": now - 60}, retry) is False, "a retry is always checked"
    assert reached({"sent_at": now - 3595}, first) is False, "within the margin of the start"
    assert reached({}, first) is False, "a message of an older version"
    assert reached({"sent_at": True}, first) is False
    monkeypatch.setattr(tracked_celery, "_ready_at", now - 20_000)
    assert reached({"sent_at": now - 15_000}, first) is False, "the revoke may have aged out"
    monkeypatch.setattr(tracked_celery, "_ready_at", None)
    assert reached({"sent_at": now}, first) is False, "not ready yet"


def test_dismissing_another_persons_finished_task_is_404(
    user_client: Client, other_user: Any, make_task: Any
) -> None:
    theirs = finished(make_task, other_user)
    response = user_client.post(dismiss_url(theirs.uuid))
    assert response.status_code == 404
    assert AsyncTask.objects.filter(pk=theirs.pk).exists()
    assert user_client.post(CLEAR_URL).json() == {"dismissed": 0}
    assert AsyncTask.objects.filter(pk=theirs.pk).exists()


def test_a_request_without_a_person_dismisses_nothing(
    user_client: Client, user: Any, make_task: Any, monkeypatch: Any
) -> None:
    done = finished(make_task, user)
    monkeypatch.setattr("osis_async.views.get_person", lambda request: None)
    assert user_client.post(CLEAR_URL).json() == {"dismissed": 0}
    assert user_client.post(dismiss_url(done.uuid)).status_code == 404
    assert user_client.post(cancel_url(done.uuid)).status_code == 404
    assert AsyncTask.objects.none().dismiss() == 0
    assert AsyncTask.objects.filter(pk=done.pk).exists()


def test_dismiss_across_a_relation(user: Any, other_user: Any, make_task: Any) -> None:
    mine, theirs = finished(make_task, user), finished(make_task, other_user)
    assert AsyncTask.objects.filter(person__username=user.username).dismiss() == 1
    assert list(AsyncTask.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert not AsyncTask.objects.filter(pk=mine.pk).exists()
