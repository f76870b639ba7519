"""Tracked django.tasks tasks: with the immediate backend (in this process), and with the
database backend run by a real ``db_worker`` process on PostgreSQL."""

from __future__ import annotations

import datetime
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import translation

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import cancel_task
from tests.integration import jobs
from tests.integration.conftest import WorkerProcess, run_notes, wait_for, worker_env

pytestmark = pytest.mark.broker


@pytest.fixture
def person(transactional_db: None) -> object:
    return get_user_model().objects.create(username=f"user-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def run_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs.log"
    monkeypatch.setenv("OSIS_ASYNC_TEST_RUN_LOG", str(path))
    return path


def runs(path: Path, key: str) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.split(" ", 1)[0] == key)


@pytest.fixture
def finished_results() -> Iterator[list[Any]]:
    """The TaskResults the backend reports as finished, to see what it recorded."""
    try:
        from django.tasks.signals import task_finished
    except ImportError:
        from django_tasks.signals import task_finished
    results: list[Any] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        results.append(task_result)

    task_finished.connect(receiver, weak=False, dispatch_uid="osis_async_tests_finished")
    yield results
    task_finished.disconnect(dispatch_uid="osis_async_tests_finished")


# --- the immediate backend -----------------------------------------------------------------------


def test_immediate_success(person: object, run_log: Path) -> None:
    task_uuid = jobs.add_up.enqueue_for(person, "sum-1", [1, 2, 3, 4])

    task = AsyncTask.objects.get(uuid=task_uuid)
    assert (task.name, task.person, task.time_to_live) == ("Sum", person, 2)
    assert task.state == TaskState.DONE
    assert task.progression == 100
    assert task.description == "Added 4 numbers"
    assert task.started_at is not None and task.completed_at is not None
    assert task.completed_at >= task.started_at
    assert runs(run_log, "sum-1") == 1


def test_immediate_failure_is_recorded_and_not_swallowed(
    person: object, run_log: Path, finished_results: list[Any]
) -> None:
    task_uuid = jobs.broken.enqueue_for(person, "broken-1", 40)

    task = AsyncTask.objects.get(uuid=task_uuid)
    assert task.state == TaskState.ERROR
    assert task.progression == 40
    assert "BadRow: bad row at 40%" in task.traceback
    assert "in broken" in task.traceback
    # The backend saw the job's own exception: the run failed, with that exception.
    (result,) = finished_results
    assert result.status == "FAILED"
    assert result.errors[0].exception_class_path == "tests.integration.jobs.BadRow"


def test_immediate_failure_whose_message_holds_a_nul_keeps_its_traceback(
    person: object, run_log: Path
) -> None:
    task_uuid = jobs.broken_with_nul.enqueue_for(person, "nul-1")

    task = AsyncTask.objects.get(uuid=task_uuid)
    assert task.state == TaskState.ERROR
    assert task.completed_at is not None
    assert "BadRow: row 7 holds \\x00 and \\ud800" in task.traceback
    assert "in broken_with_nul" in task.traceback
    assert task.progression == 25


def test_immediate_task_taking_context(person: object, run_log: Path) -> None:
    task_uuid = jobs.with_context.enqueue_for(person, "ctx-1")

    task = AsyncTask.objects.get(uuid=task_uuid)
    assert task.state == TaskState.DONE
    assert runs(run_log, "ctx-1") == 1


def test_immediate_async_task(person: object, run_log: Path) -> None:
    task_uuid = jobs.async_add_up.enqueue_for(person, "async-1", [5, 6, 7])

    task = AsyncTask.objects.get(uuid=task_uuid)
    assert task.state == TaskState.DONE
    assert task.progression == 100
    assert runs(run_log, "async-1") == 1


def test_immediate_enqueue_in_a_transaction(person: object, run_log: Path) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        rolled_back = jobs.add_up.enqueue_for(person, "rolled-back", [1])
        assert AsyncTask.objects.get(uuid=rolled_back).state == TaskState.PENDING
        assert runs(run_log, "rolled-back") == 0, "the job waits for the commit"
        raise Abort

    assert not AsyncTask.objects.filter(uuid=rolled_back).exists()
    assert runs(run_log, "rolled-back") == 0, "a rolled-back enqueue never runs"

    with transaction.atomic():
        committed = jobs.add_up.enqueue_for(person, "committed", [1])
        assert runs(run_log, "committed") == 0
    assert runs(run_log, "committed") == 1
    assert AsyncTask.objects.get(uuid=committed).state == TaskState.DONE


def test_plain_enqueue_and_call_stay_untracked(person: object, run_log: Path) -> None:
    result = jobs.add_up.enqueue("plain", [2, 3])
    assert result.return_value == 5
    assert jobs.add_up.call("called", [4]) == 4
    assert AsyncTask.objects.count() == 0
    assert runs(run_log, "plain") == runs(run_log, "called") == 1


def test_with_tracking_changes_what_the_user_sees(person: object, run_log: Path) -> None:
    named = jobs.add_up.with_tracking(name="Sum of 2024", description="For 2024", time_to_live=7)
    task_uuid = named.using(priority=0).enqueue_for(person, "named", [1])

    task = AsyncTask.objects.get(uuid=task_uuid)
    assert (task.name, task.time_to_live, task.state) == ("Sum of 2024", 7, TaskState.DONE)
    assert jobs.add_up.tracking.name == "Sum", "the original task keeps its own"


# --- the database backend, run by db_worker ----------------------------------------------------


@pytest.fixture(scope="module")
def db_worker(
    postgres_db: str, tasks_db_backend: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, Path]]:
    workdir = tmp_path_factory.mktemp("db-worker")
    run_log = workdir / "runs.log"
    argv = [
        sys.executable,
        "-m",
        "django",
        "db_worker",
        "--no-reload",
        "--backend",
        "db",
        "--interval",
        "0.1",
        "--no-startup-delay",
        "--worker-id",
        "tests-db-worker",
        "--verbosity",
        "1",
    ]
    env = worker_env(postgres_db, OSIS_ASYNC_TEST_RUN_LOG=str(run_log))
    worker = WorkerProcess("db_worker", argv, env, workdir / "db_worker.log")
    worker.start(ready=r"Starting worker")
    yield worker, run_log
    worker.stop()


def db_results(**filters: Any) -> int:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(**filters).count()


@pytest.mark.postgres
def test_db_worker_lifecycle(db_worker: tuple[WorkerProcess, Path], person: object) -> None:
    worker, run_log = db_worker
    task_uuid = jobs.add_up.using(backend="db").enqueue_for(person, "db-sum", [1, 2, 3], pause=0.8)

    assert AsyncTask.objects.filter(uuid=task_uuid).exists()
    processing = wait_for(
        lambda: (task := AsyncTask.objects.get(uuid=task_uuid)).state != TaskState.PENDING and task,
        timeout=20,
        what="the worker to start the job",
        logs=worker.log,
    )
    assert processing.state == TaskState.PROCESSING, "the job pauses at its start"
    assert processing.started_at is not None and processing.completed_at is None

    task = wait_for(
        lambda: (task := AsyncTask.objects.get(uuid=task_uuid)).state == TaskState.DONE and task,
        timeout=20,
        what="DONE",
        logs=worker.log,
    )
    assert task.progression == 100
    assert task.description == "Added 3 numbers"
    assert task.started_at == processing.started_at
    assert runs(run_log, "db-sum") == 1
    # The backend records its own result once the job has returned (after the DONE write).
    wait_for(
        lambda: db_results(status="SUCCESSFUL", return_value=6) == 1,
        timeout=10,
        what="the backend to record the success",
    )


@pytest.mark.postgres
def test_db_worker_failure(db_worker: tuple[WorkerProcess, Path], person: object) -> None:
    worker, run_log = db_worker
    task_uuid = jobs.broken.using(backend="db").enqueue_for(person, "db-broken", 70)

    task = wait_for(
        lambda: (task := AsyncTask.objects.get(uuid=task_uuid)).state == TaskState.ERROR and task,
        timeout=20,
        what="ERROR",
        logs=worker.log,
    )
    assert "BadRow: bad row at 70%" in task.traceback
    assert task.progression == 70
    assert task.completed_at is not None
    wait_for(
        lambda: db_results(status="FAILED", exception_class_path="tests.integration.jobs.BadRow"),
        timeout=10,
        what="the backend to record the failure",
    )


@pytest.mark.postgres
def test_db_worker_enqueue_in_a_transaction(
    db_worker: tuple[WorkerProcess, Path], person: object
) -> None:
    worker, run_log = db_worker

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        rolled_back = jobs.add_up.using(backend="db").enqueue_for(person, "db-rolled-back", [1])
        assert db_results() == 0, "the job is queued on commit only"
        raise Abort

    assert not AsyncTask.objects.filter(uuid=rolled_back).exists()
    assert db_results() == 0, "neither row nor job"

    with transaction.atomic():
        committed = jobs.add_up.using(backend="db").enqueue_for(person, "db-committed", [1])
        time.sleep(0.5)
        assert runs(run_log, "db-committed") == 0
    wait_for(
        lambda: AsyncTask.objects.get(uuid=committed).state == TaskState.DONE,
        timeout=20,
        what="DONE",
        logs=worker.log,
    )
    assert runs(run_log, "db-rolled-back") == 0
    assert db_results() == 1, "one job: the committed one"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "Export des étudiants : 12\u00a0000 sur 12\u00a0000 écrits."),
        ("en", "Exporting students: 12,000 of 12,000 written."),
        ("de", "Exporting students: 12,000 of 12,000 written."),  # not offered: the default
    ],
    ids=["fr", "en", "de"],
)
def test_db_worker_runs_the_job_in_the_language_it_was_started_in(
    db_worker: tuple[WorkerProcess, Path], person: object, language: str, expected: str
) -> None:
    worker, run_log = db_worker
    key = f"db-export-{language}"
    with translation.override(language):
        task_uuid = jobs.demo_export_task.using(backend="db").enqueue_for(person, key)
    task = wait_for(
        lambda: (task := AsyncTask.objects.get(uuid=task_uuid)).state == TaskState.DONE and task,
        timeout=20,
        what="DONE",
        logs=worker.log,
    )
    assert task.description == expected
    lines = [line.split() for line in run_log.read_text().splitlines()]
    assert [line[3] for line in lines if line[0] == key] == ["fr" if language == "fr" else "en"]


@pytest.mark.postgres
def test_db_worker_attaches_a_file_and_gives_a_reason(
    db_worker: tuple[WorkerProcess, Path], person: object, shared_results: Path
) -> None:
    worker, _run_log = db_worker
    report = jobs.tasks_report.using(backend="db").enqueue_for(person, "db-report")
    refused = jobs.tasks_refuse.using(backend="db").enqueue_for(person, "db-refuse")

    def finished(task_uuid: uuid.UUID) -> AsyncTask:
        return wait_for(
            lambda: (task := AsyncTask.objects.get(uuid=task_uuid)).is_finished and task,
            timeout=20,
            what="the job to finish",
            logs=worker.log,
        )

    done = finished(report)
    assert done.state == TaskState.DONE
    assert (shared_results / done.result_file.name).read_bytes() == jobs.REPORT_BYTES
    failed = finished(refused)
    assert (failed.state, failed.error_message) == (TaskState.ERROR, jobs.UNKNOWN_STUDENT)


# --- cancel, with db_worker ------------------------------------------------------------------


@pytest.mark.postgres
def test_db_worker_a_cancelled_pending_job_never_runs_its_body(
    db_worker: tuple[WorkerProcess, Path], person: object
) -> None:
    from django.utils import timezone

    worker, run_log = db_worker
    later = timezone.now() + datetime.timedelta(seconds=1)
    task_uuid = jobs.mail_out.using(backend="db", run_after=later).enqueue_for(
        person, "db-cancel-pending", 3, 0.01
    )
    assert cancel_task(task_uuid) is True
    assert AsyncTask.objects.get(uuid=task_uuid).state == TaskState.CANCELLED
    sentinel = jobs.mail_out.using(
        backend="db", run_after=later + datetime.timedelta(seconds=0.5)
    ).enqueue_for(person, "db-cancel-sentinel", 1, 0.0)
    wait_for(
        lambda: AsyncTask.objects.get(uuid=sentinel).state == TaskState.DONE,
        timeout=30,
        what="the sentinel job",
        logs=worker.log,
    )
    # The worker takes jobs in run_after order: the cancelled one came before the sentinel.
    assert run_notes(run_log, "db-cancel-pending") == [], "its body never ran"
    assert AsyncTask.objects.get(uuid=task_uuid).state == TaskState.CANCELLED


@pytest.mark.postgres
def test_db_worker_a_running_job_stops_at_its_next_report(
    db_worker: tuple[WorkerProcess, Path], person: object
) -> None:
    worker, run_log = db_worker
    task_uuid = jobs.mail_out.using(backend="db").enqueue_for(person, "db-cancel-running", 200, 0.1)
    wait_for(
        lambda: AsyncTask.objects.get(uuid=task_uuid).progression >= 2,
        timeout=30,
        what="the job to report",
        logs=worker.log,
    )
    asked = time.monotonic()
    assert cancel_task(task_uuid) is True
    task = wait_for(
        lambda: (found := AsyncTask.objects.get(uuid=task_uuid)).is_finished and found,
        timeout=10,
        what="the job to stop",
        logs=worker.log,
    )
    took = time.monotonic() - asked
    assert task.state == TaskState.CANCELLED
    assert took < 2.0, f"stopped {took:.2f} s after the cancel"
    assert 0 < task.progression < 100
    assert run_notes(run_log, "db-cancel-running") == ["started"]
