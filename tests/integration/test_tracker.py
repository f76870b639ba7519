"""The lifecycle tracker (``Tracker``) and the progress reporter, in this process, on the suite's
database."""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from osis_async.integrations import tracking
from osis_async.integrations.progress import current_progress, percent_of
from osis_async.integrations.tracking import Tracker
from osis_async.integrations.tracking import retry as retry_module
from osis_async.integrations.tracking import tracker as tracker_module
from osis_async.models import AsyncTask, TaskState
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.broker


class FakeClock:
    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def task(transactional_db: None) -> AsyncTask:
    person = get_user_model().objects.create(username=f"user-{uuid.uuid4().hex[:8]}")
    return AsyncTask.objects.create(name="Job", description="Base", person=person)


def row(task: AsyncTask) -> AsyncTask:
    return AsyncTask.objects.get(pk=task.pk)


def updates(queries: CaptureQueriesContext) -> int:
    table = AsyncTask._meta.db_table
    return sum(
        1
        for query in queries.captured_queries
        if query["sql"].startswith("UPDATE") and table in query["sql"]
    )


def tracker_with(task: AsyncTask, *, interval: float, clock: FakeClock | None = None) -> Tracker:
    """A tracker writing in this thread, on a clock the test controls."""
    return Tracker(task.uuid, background=False, interval=interval, clock=clock or FakeClock())


def test_percent_of() -> None:
    assert percent_of(0, 10) == 0
    assert percent_of(3, 10) == 30
    assert percent_of(1, 3) == 33
    assert percent_of(2, 3) == 66
    assert percent_of(10, 10) == 100
    assert percent_of(42) == 42
    assert percent_of(42.9) == 42
    assert percent_of(0.29, 1) == 29
    assert percent_of(15, 10) == 100
    assert percent_of(-1, 10) == 0
    assert percent_of(0, 0) == 100
    with pytest.raises(TypeError):
        percent_of("3", 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        percent_of(True, 10)
    with pytest.raises(ValueError):
        percent_of(float("nan"))


def test_untracked_progress_does_nothing_but_checks_its_arguments() -> None:
    progress = current_progress()
    assert not progress.tracked
    progress.report(5, 10, description="anything")
    with pytest.raises(TypeError):
        progress.report("five", 10)  # type: ignore[arg-type]


def test_a_million_reports_write_at_most_one_update_per_percent(task: AsyncTask) -> None:
    tracker = tracker_with(task, interval=0)
    tracker.start()
    with CaptureQueriesContext(connection) as queries:
        for done in range(1, 1_000_001):
            tracker.progress.report(done, 1_000_000)
    assert 1 <= updates(queries) <= 100
    assert row(task).progression == 100


def test_a_million_reports_write_at_most_one_update_per_interval(task: AsyncTask) -> None:
    # The clock moves 1 µs per reading: the million reports span about one second.
    tracker = tracker_with(task, interval=0.5, clock=FakeClock(step=1e-6))
    tracker.start()
    with CaptureQueriesContext(connection) as queries:
        for done in range(1, 1_000_001):
            tracker.progress.report(done, 1_000_000)
        tracker.succeed()
    assert updates(queries) <= 4, "≤ 1 s / 0.5 s, plus the final write"
    task = row(task)
    assert (task.state, task.progression) == (TaskState.DONE, 100), "the final state is written"


def test_held_back_progress_goes_out_with_the_final_write(task: AsyncTask) -> None:
    tracker = tracker_with(task, interval=3600)
    tracker.start()
    tracker.progress.report(10)  # held back: the start was written a moment ago
    tracker.progress.report(37, description="Row 37")  # held back too
    assert row(task).progression == 0
    tracker.fail(ValueError("row 38 is broken"))
    task = row(task)
    assert (task.state, task.progression, task.description) == (TaskState.ERROR, 37, "Row 37")
    assert "ValueError: row 38 is broken" in task.traceback


def test_a_description_alone_is_written(task: AsyncTask) -> None:
    tracker = tracker_with(task, interval=0)
    tracker.start()
    tracker.progress.report(description="Downloading the file")
    assert row(task).description == "Downloading the file"


def test_a_failed_write_is_logged_and_caught_up(
    task: AsyncTask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = tracker_with(task, interval=0)
    tracker.start()
    real_update = tracker_module.update_task
    failures = iter([True])

    def flaky_update(*args: Any, **kwargs: Any) -> bool:
        if next(failures, False):
            raise OperationalError("server closed the connection unexpectedly")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(tracker_module, "update_task", flaky_update)
    with caplog.at_level(logging.WARNING, logger="osis_async.integrations"):
        tracker.progress.report(40, description="Half-way")  # fails: logged, not raised
    assert row(task).progression == 0
    assert f"Could not record progress of task {task.uuid}" in caplog.text
    assert "server closed the connection" in caplog.text

    tracker.progress.report(41)  # the next write carries what the failed one had
    task = row(task)
    assert (task.progression, task.description) == (41, "Half-way")


def test_a_lost_start_is_caught_up_by_the_next_write(
    task: AsyncTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = tracker_with(task, interval=0)
    real_update = tracker_module.update_task
    calls = iter([True])

    def flaky_update(*args: Any, **kwargs: Any) -> bool:
        if next(calls, False):
            raise OperationalError("database is restarting")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(tracker_module, "update_task", flaky_update)
    tracker.start()
    assert row(task).state == TaskState.PENDING
    tracker.progress.report(5)
    task = row(task)
    assert (task.state, task.progression) == (TaskState.PROCESSING, 5)
    assert task.started_at == tracker.started_at


def test_a_final_write_is_retried(task: AsyncTask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry_module, "FINAL_WRITE_BACKOFF", 0.01)
    tracker = tracker_with(task, interval=0)
    tracker.start()
    real_update = tracker_module.update_task
    failures = iter([True, True])

    def flaky_update(*args: Any, **kwargs: Any) -> bool:
        if next(failures, False):
            raise OperationalError("connection refused")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(tracker_module, "update_task", flaky_update)
    assert tracker.succeed()
    assert row(task).state == TaskState.DONE


def test_a_failing_write_inside_the_jobs_transaction_leaves_it_usable(
    task: AsyncTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = tracker_with(task, interval=0)
    tracker.start()

    def broken_update(*args: Any, **kwargs: Any) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # an error that aborts a PostgreSQL transaction
        return True

    User = get_user_model()
    with transaction.atomic():
        User.objects.create(username="made-by-the-job")
        monkeypatch.setattr(tracker_module, "update_task", broken_update)
        tracker.progress.report(50)  # fails inside the job's transaction
        monkeypatch.undo()
        # The job's transaction still works, and the job's next report is written with it.
        User.objects.create(username="made-after-the-hiccup")
        tracker.progress.report(60)
    assert User.objects.filter(username__startswith="made-").count() == 2
    assert row(task).progression == 60


def test_a_deleted_task_stops_tracking_quietly(
    task: AsyncTask, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = tracker_with(task, interval=0)
    tracker.start()
    AsyncTask.objects.filter(pk=task.pk).delete()
    with caplog.at_level(logging.WARNING, logger="osis_async.integrations"):
        tracker.progress.report(20)
        tracker.progress.report(30)
        assert not tracker.succeed()
    assert caplog.text.count("no longer exists") == 1


def test_a_task_expired_meanwhile_is_left_alone(task: AsyncTask) -> None:
    tracker = tracker_with(task, interval=0)
    tracker.start()
    AsyncTask.objects.filter(pk=task.pk).mark_errored(timezone.now(), "Expired")
    tracker.progress.report(90)
    tracker.succeed()
    task = row(task)
    assert (task.state, task.traceback) == (TaskState.ERROR, "Expired")
    assert task.progression == 0


def test_retry_goes_back_to_pending_then_the_next_attempt_runs(task: AsyncTask) -> None:
    first = Tracker(task.uuid, base_description="Base", background=False, interval=0)
    first.start(attempt=1, max_attempts=3)
    first.progress.report(40)
    assert first.retry(ConnectionError("refused"), attempt=1)
    waiting = row(task)
    assert (waiting.state, waiting.progression) == (TaskState.PENDING, 40)
    assert waiting.description == "Base (attempt 1 failed: ConnectionError: refused; retrying)"
    assert waiting.completed_at is None

    second = Tracker(task.uuid, base_description="Base", background=False, interval=0)
    second.start(attempt=2, max_attempts=3)
    started = row(task)
    assert (started.state, started.progression) == (TaskState.PROCESSING, 0)
    assert started.description == "Base (attempt 2 of 3)"
    second.succeed()
    task = row(task)
    assert (task.state, task.description) == (TaskState.DONE, "Base")


def test_a_late_retry_note_does_not_undo_the_next_attempt(task: AsyncTask) -> None:
    first = Tracker(task.uuid, base_description="Base", background=False, interval=0)
    first.start(attempt=1, max_attempts=3)
    # A retry with no delay: the next attempt starts (on another worker) before the first
    # attempt's retry handler writes.
    second = Tracker(task.uuid, base_description="Base", background=False, interval=0)
    second.start(attempt=2, max_attempts=3)
    assert not first.retry(ConnectionError("refused"), attempt=1)
    task = row(task)
    assert (task.state, task.description) == (TaskState.PROCESSING, "Base (attempt 2 of 3)")


def test_in_the_background_the_start_and_held_progress_get_written(task: AsyncTask) -> None:
    tracker = Tracker(task.uuid, interval=0.3)
    tracker.start()
    assert row(task).state == TaskState.PENDING, "the start is written a moment later"
    wait_for(
        lambda: row(task).state == TaskState.PROCESSING,
        timeout=5,
        what="PROCESSING, written by the flusher with no report from the job",
    )
    tracker.progress.report(30)
    tracker.progress.report(31)  # held back by the interval...
    wait_for(lambda: row(task).progression == 31, timeout=5, what="...then written")
    assert tracker.writes <= 3
    tracker.succeed()
    assert row(task).state == TaskState.DONE


def test_in_the_background_a_short_job_costs_one_write(task: AsyncTask) -> None:
    tracker = Tracker(task.uuid)
    tracker.start()
    for done in range(1, 101):
        tracker.progress.report(done, 100)
    tracker.succeed()
    assert tracker.writes == 1
    task = row(task)
    assert (task.state, task.progression) == (TaskState.DONE, 100)
    assert task.started_at == tracker.started_at and task.completed_at >= task.started_at


def test_in_a_worker_the_job_does_not_wait_for_its_final_write(
    task: AsyncTask, caplog: pytest.LogCaptureFixture
) -> None:
    writer_busy = threading.Event()
    tracking.flusher().submit(lambda: writer_busy.wait(10))
    tracker = Tracker(task.uuid, wait_final=False)
    tracker.start()
    tracker.progress.report(40)
    started = time.monotonic()
    try:
        assert tracker.succeed() is True
        assert time.monotonic() - started < 1, "succeed() waited for the busy writer"
        assert row(task).state == TaskState.PENDING
        with caplog.at_level(logging.ERROR, logger="osis_async.integrations"):
            assert tracking.drain(timeout=0.2) is False
        assert "TTL sweep will mark" in caplog.text
    finally:
        writer_busy.set()
    assert tracking.drain() is True
    task = row(task)
    assert (task.state, task.progression) == (TaskState.DONE, 100)
    assert task.started_at == tracker.started_at and task.completed_at is not None
    assert tracker.writes == 1


def test_in_the_background_a_million_reports_respect_the_interval(task: AsyncTask) -> None:
    tracker = Tracker(task.uuid, interval=0.2)
    started = time.monotonic()
    tracker.start()
    for done in range(1, 1_000_001):
        tracker.progress.report(done, 1_000_000)
    tracker.succeed()
    elapsed = time.monotonic() - started
    assert tracker.writes <= min(101, elapsed / 0.2 + 2)
    assert row(task).progression == 100


@pytest.fixture
def celery_eager() -> Iterator[Any]:
    pytest.importorskip("celery")
    from celery import Celery, _state

    previous = _state.get_current_app()
    app = Celery("osis_async_eager_tests", set_as_current=False)
    app.conf.update(task_always_eager=True, task_eager_propagates=False, broker_url="memory://")
    app.set_current()
    yield app
    app.close()
    previous.set_current()


def test_celery_sweep_task_expires_what_outlived_its_time(
    task: AsyncTask, celery_eager: Any
) -> None:
    from osis_async.integrations.celery import check_async_task_ttl
    from osis_async.integrations.schedule import ttl_sweep_entry

    AsyncTask.objects.filter(pk=task.pk).update(
        state=TaskState.PROCESSING,
        started_at=timezone.now() - datetime.timedelta(minutes=task.time_to_live + 1),
    )
    assert ttl_sweep_entry()["task"] == check_async_task_ttl.name
    assert check_async_task_ttl.delay().get() == 1
    assert row(task).state == TaskState.ERROR


def test_tracked_celery_task_stays_a_celery_task(task: AsyncTask, celery_eager: Any) -> None:
    from tests.integration import jobs

    assert jobs.count_to.name == "tests.integration.jobs.count_to"
    assert jobs.count_to.delay(3).get() == 3, "delay() is Celery's own and tracks nothing"
    assert AsyncTask.objects.count() == 1
    with pytest.raises(TypeError, match="task_id"):
        jobs.count_to.apply_async_for(task.person, args=(1,), task_id="mine")
