"""Tracked Celery tasks run by real workers (prefork) on RabbitMQ and on Redis, PostgreSQL."""

from __future__ import annotations

import datetime
import os
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import translation

from osis_async.models import AsyncTask, TaskState
from osis_async.models.task import TTL_EXPIRED_MESSAGE
from osis_async.utils import cancel_task
from tests.integration import jobs
from tests.integration.conftest import CeleryEnv, WorkerProcess, run_notes, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


@pytest.fixture
def person(transactional_db: None) -> object:
    return get_user_model().objects.create(username=f"user-{uuid.uuid4().hex[:8]}")


def row(task_uuid: uuid.UUID) -> AsyncTask:
    return AsyncTask.objects.get(uuid=task_uuid)


def wait_state(
    env: CeleryEnv, task_uuid: uuid.UUID, *states: TaskState, timeout: float = 30
) -> AsyncTask:
    return wait_for(
        lambda: (task := row(task_uuid)).state in states and task,
        timeout=timeout,
        what=f"task {task_uuid} to reach {'/'.join(states)} (now {row(task_uuid).state})",
        logs=env.logs,
    )


def test_success_goes_pending_processing_done(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.count_to.enqueue_for(person, 40, step_seconds=0.05, first_pause=0.6)

    created = row(task_uuid)
    assert isinstance(task_uuid, uuid.UUID)
    assert (created.name, created.description) == ("Counting", "Counts to n.")
    assert created.person == person
    assert created.time_to_live == 2
    assert created.state in (TaskState.PENDING, TaskState.PROCESSING)

    processing = wait_state(celery_env, task_uuid, TaskState.PROCESSING, TaskState.DONE)
    assert processing.state == TaskState.PROCESSING, "the first pause keeps it processing"
    assert processing.started_at is not None and processing.completed_at is None

    seen: set[int] = set()

    def done() -> bool:
        task = row(task_uuid)
        seen.add(task.progression)
        return task.state == TaskState.DONE

    wait_for(done, timeout=30, what="DONE", interval=0.02, logs=celery_env.logs)
    task = row(task_uuid)
    assert task.progression == 100
    assert task.completed_at is not None and task.started_at is not None
    assert task.completed_at >= task.started_at
    assert task.started_at == processing.started_at
    assert task.traceback == ""
    assert task.description == "Counted 40 of 40", "the last description reported is written"
    assert any(0 < percent < 100 for percent in seen), f"no progress seen while running: {seen}"
    # One run, on the worker, under the row's uuid as Celery task id.
    assert celery_env.runs(task_uuid) == [[str(task_uuid), "w1", "1"]]


def test_failure_records_the_traceback(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.fail_at.enqueue_for(person, 60)

    task = wait_state(celery_env, task_uuid, TaskState.ERROR, TaskState.DONE)
    assert task.state == TaskState.ERROR
    assert task.completed_at is not None
    assert "BadRow: bad row at 60%" in task.traceback
    assert "in fail_at" in task.traceback, "the traceback goes down to the job's own frame"
    assert task.progression == 60, "the progress reached before failing stays visible"
    assert len(celery_env.runs(task_uuid)) == 1


def test_a_failure_whose_message_holds_a_nul_keeps_its_traceback(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.fail_with_nul.enqueue_for(person)

    task = wait_state(celery_env, task_uuid, TaskState.ERROR, TaskState.DONE)
    assert task.state == TaskState.ERROR
    assert task.completed_at is not None
    assert "BadRow: row 7 holds \\x00 and \\ud800" in task.traceback
    assert "in fail_with_nul" in task.traceback
    assert task.progression == 25


def test_retry_then_success(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    # The first attempt runs long enough to show PROCESSING, then fails.
    task_uuid = jobs.flaky.enqueue_for(person, 1, countdown=1.5, pause=0.5)
    wait_state(celery_env, task_uuid, TaskState.PROCESSING)

    waiting = wait_for(
        lambda: (
            (task := row(task_uuid)).state == TaskState.PENDING
            and "retrying" in task.description
            and task
        ),
        timeout=20,
        what="the retry to show",
        logs=celery_env.logs,
    )
    assert waiting.description.startswith("Fails, then works. (attempt 1 failed: ConnectionError")
    assert "try 1 could not connect" in waiting.description
    assert waiting.completed_at is None, "a task being retried is not finished"

    task = wait_state(celery_env, task_uuid, TaskState.DONE, TaskState.ERROR)
    assert task.state == TaskState.DONE
    assert task.progression == 100
    assert task.traceback == ""
    assert task.description == "Fails, then works.", "the retry note is gone once it succeeds"
    assert task.started_at > waiting.started_at, "the second attempt restarted the clock"
    assert [attempt for _, _, attempt in celery_env.runs(task_uuid)] == ["1", "2"]


def test_retries_then_final_failure(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.always_failing.enqueue_for(person)

    task = wait_state(celery_env, task_uuid, TaskState.ERROR, TaskState.DONE)
    assert task.state == TaskState.ERROR
    attempts = [attempt for _, _, attempt in celery_env.runs(task_uuid)]
    assert attempts == ["1", "2", "3"], "max_retries=2: three attempts, the last one decides"
    assert "ConnectionError: attempt 3: server unreachable" in task.traceback
    assert task.description == "Never connects.", "the final state shows no retry note"


#: What the demo's export writes last, in each language: its own strings and its numbers.
EXPORT_DONE = {
    "fr": "Export des étudiants : 12\u00a0000 sur 12\u00a0000 écrits.",
    "en": "Exporting students: 12,000 of 12,000 written.",
}


@pytest.mark.parametrize("language", ["fr", "en", "de"])
def test_the_job_runs_in_the_language_it_was_started_in(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object, language: str
) -> None:
    """The worker runs in English (LANGUAGE_CODE); a job started in French writes French, one
    started in a language the site does not offer (de) the default. In turn on the same worker:
    one job's language does not stay for the next."""
    with translation.override(language):
        task_uuid = jobs.demo_export.enqueue_for(person)
    expected = "fr" if language == "fr" else "en"
    created = row(task_uuid)
    assert created.name == {"fr": "Export des étudiants", "en": "Students export"}[expected]
    task = wait_state(celery_env, task_uuid, TaskState.DONE, TaskState.ERROR)
    assert task.state == TaskState.DONE
    assert task.description == EXPORT_DONE[expected]
    assert [note for _, _, _, note in celery_env.runs(task_uuid)] == [expected]


def test_a_retry_keeps_the_language(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    with translation.override("fr"):
        task_uuid = jobs.demo_export.enqueue_for(person, fail_first=True)
    waiting = wait_for(
        lambda: (
            (task := row(task_uuid)).state == TaskState.PENDING
            and "nouvel essai" in task.description
            and task
        ),
        timeout=20,
        what="the retry to show",
        interval=0.02,
        logs=celery_env.logs,
    )
    # The tracking's own note, written in the worker, is French too.
    assert waiting.description == (
        "Exporte 12\u00a0000 étudiants vers un tableur. "
        "(la tentative 1 a échoué : ConnectionError: first try ; nouvel essai)"
    )
    task = wait_state(celery_env, task_uuid, TaskState.DONE, TaskState.ERROR)
    assert task.description == EXPORT_DONE["fr"]
    runs = celery_env.runs(task_uuid)
    assert [(attempt, note) for _, _, attempt, note in runs] == [("1", "fr"), ("2", "fr")]


def test_a_hard_time_limit_marks_the_task_failed(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    # The pool kills the child running the job; the worker's main process reports it.
    task_uuid = jobs.slow.apply_async_for(person, args=(20,), time_limit=1.5)

    task = wait_state(celery_env, task_uuid, TaskState.ERROR, TaskState.DONE)
    assert task.state == TaskState.ERROR
    assert "TimeLimitExceeded" in task.traceback
    assert 0 < task.progression < 100


def test_worker_killed_mid_task_then_ttl_sweep(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    # A worker of its own, on a queue of its own, so that killing it touches nothing else.
    doomed_queue = f"{celery_env.queue}.doomed"
    doomed = celery_env.start_worker("doomed", concurrency=1, queue=doomed_queue)
    task_uuid = jobs.slow.apply_async_for(person, args=(30,), queue=doomed_queue)
    assert row(task_uuid).time_to_live == 1

    wait_for(
        lambda: (task := row(task_uuid)).state == TaskState.PROCESSING and task.progression >= 5,
        timeout=30,
        what="the slow job to make progress",
        logs=celery_env.logs,
    )
    doomed.kill()

    killed_at = row(task_uuid)
    assert killed_at.state == TaskState.PROCESSING
    assert wait_for(lambda: not doomed.alive, timeout=5, what="the worker to die")
    after = row(task_uuid)
    assert after.state == TaskState.PROCESSING, "nobody is left to finish it"
    assert after.progression == killed_at.progression

    # The sweep, as Celery beat sends it, run by the surviving worker: not expired yet...
    from osis_async.integrations.celery import check_async_task_ttl

    def sweeps() -> int:
        return len(re.findall(r"check_async_task_ttl\[[^\]]+\] succeeded", celery_worker.log()))

    before = sweeps()
    check_async_task_ttl.delay()
    wait_for(lambda: sweeps() > before, timeout=15, what="the sweep to run", logs=celery_env.logs)
    assert row(task_uuid).state == TaskState.PROCESSING, "its minute to live is not over"

    # ...then two minutes later (moved back rather than waited for).
    AsyncTask.objects.filter(uuid=task_uuid).update(
        started_at=F("started_at") - datetime.timedelta(minutes=2)
    )
    check_async_task_ttl.delay()
    task = wait_state(celery_env, task_uuid, TaskState.ERROR)
    assert task.traceback == TTL_EXPIRED_MESSAGE
    assert task.completed_at is not None
    assert task.progression == killed_at.progression


def test_a_worker_stopped_as_a_job_ends_still_writes_its_end(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    """The job's thread hands its final write to the worker's writer and takes the next job;
    a warm shutdown (SIGTERM to the worker) waits for that write before the process exits."""
    queue = f"{celery_env.queue}.stopping"
    task_uuid = jobs.record_run.apply_async_for(person, queue=queue)
    # Hold the row: the worker's final write will wait for this transaction.
    database = connection.settings_dict
    holder = psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        password=database["PASSWORD"],
        dbname=database["NAME"],
    )
    try:
        holder.execute("SELECT 1 FROM osis_async_asynctask WHERE uuid = %s FOR UPDATE", [task_uuid])
        worker = celery_env.start_worker("stopping", concurrency=1, queue=queue)
        wait_for(lambda: celery_env.runs(task_uuid), timeout=30, what="the job to run")
        wait_for(
            lambda: re.search(rf"record_run\[{task_uuid}\] succeeded", worker.log()),
            timeout=10,
            what="the job to return",
            logs=celery_env.logs,
        )
        assert row(task_uuid).state == TaskState.PENDING, "its end is still waiting"
        assert worker.process is not None
        os.kill(worker.process.pid, signal.SIGTERM)
        # An idle worker's warm shutdown takes a second or two; this one must wait for the row.
        deadline = time.monotonic() + 8
        while worker.alive and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.alive, "the worker exited without writing the job's end"
    finally:
        holder.rollback()
        holder.close()
    wait_for(lambda: not worker.alive, timeout=20, what="the worker to exit", logs=celery_env.logs)
    task = row(task_uuid)
    assert task.state == TaskState.DONE
    assert task.started_at is not None and task.completed_at is not None


def test_enqueue_in_a_transaction_waits_for_the_commit(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    with transaction.atomic():
        task_uuid = jobs.record_run.enqueue_for(person)
        assert row(task_uuid).state == TaskState.PENDING, "the row exists at once"
        # Give a worker every chance to run the job early.
        time.sleep(1.0)
        assert celery_env.runs(task_uuid) == [], "no job leaves before the commit"

    task = wait_state(celery_env, task_uuid, TaskState.DONE)
    assert len(celery_env.runs(task_uuid)) == 1
    assert task.progression == 100


def test_enqueue_in_a_rolled_back_transaction_leaves_nothing(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        rolled_back = jobs.record_run.enqueue_for(person)
        assert row(rolled_back).state == TaskState.PENDING
        raise Abort

    assert not AsyncTask.objects.filter(uuid=rolled_back).exists()
    # A job enqueued after it, on the same queue, runs; the rolled-back one never does.
    marker = jobs.record_run.enqueue_for(person)
    wait_state(celery_env, marker, TaskState.DONE)
    time.sleep(0.5)
    assert celery_env.runs(rolled_back) == []
    assert not AsyncTask.objects.filter(uuid=rolled_back).exists()


def test_a_database_hiccup_does_not_break_the_job(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.hiccup.enqueue_for(person)

    task = wait_state(celery_env, task_uuid, TaskState.DONE, TaskState.ERROR)
    assert task.state == TaskState.DONE, task.traceback
    (run,) = celery_env.runs(task_uuid)
    # The write after the connection was killed failed (False) without raising; the next one
    # reconnected and wrote 80 %.
    assert run[3:] == ["flushes=True,False,True", "seen=80"]
    assert f"Could not record progress of task {task_uuid}" in celery_worker.log()
    assert task.progression == 100


def test_a_thousand_jobs_on_two_workers(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    second = celery_env.start_worker("w2")
    try:
        with connection.cursor() as cursor:
            # A throwaway test database: commits need not wait for the disk.
            cursor.execute("SET synchronous_commit TO OFF")
        try:
            uuids = {jobs.record_run.enqueue_for(person) for _ in range(1000)}
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        assert len(uuids) == 1000
        assert AsyncTask.objects.filter(uuid__in=uuids).count() == 1000

        def all_done() -> bool:
            return AsyncTask.objects.filter(uuid__in=uuids, state=TaskState.DONE).count() == 1000

        wait_for(
            all_done, timeout=150, what="1,000 jobs to be DONE", interval=0.5, logs=celery_env.logs
        )
    finally:
        second.stop()

    assert not AsyncTask.objects.filter(uuid__in=uuids).exclude(progression=100).exists()
    lines = [line.split() for line in celery_env.run_log.read_text().splitlines()]
    runs = [line for line in lines if uuid.UUID(line[0]) in uuids]
    ran = [uuid.UUID(line[0]) for line in runs]
    assert len(ran) == 1000, "every job ran exactly once: none lost, none duplicated"
    assert set(ran) == uuids
    by_worker = {name: sum(1 for line in runs if line[1] == name) for name in ("w1", "w2")}
    assert by_worker["w1"] > 0 and by_worker["w2"] > 0, by_worker


def test_a_job_attaches_a_file_in_one_line(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: Any, shared_results: Path
) -> None:
    task_uuid = jobs.celery_report.enqueue_for(person)

    task = wait_state(celery_env, task_uuid, TaskState.DONE, TaskState.ERROR)
    assert task.state == TaskState.DONE
    assert task.result_filename == jobs.REPORT_NAME
    assert (shared_results / task.result_file.name).read_bytes() == jobs.REPORT_BYTES
    client = Client()
    client.force_login(person)
    (item,) = [
        row
        for row in client.get(reverse("osis_async:task-list")).json()["results"]
        if row["uuid"] == str(task_uuid)
    ]
    response = client.get(item["result_url"])
    assert b"".join(response.streaming_content) == jobs.REPORT_BYTES
    response.close()


def test_task_failed_gives_the_person_its_reason(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.celery_refuse.enqueue_for(person)

    task = wait_state(celery_env, task_uuid, TaskState.ERROR, TaskState.DONE)
    assert task.state == TaskState.ERROR
    assert task.error_message == jobs.UNKNOWN_STUDENT
    assert "TaskFailed" in task.traceback


def test_an_unexpected_failure_gives_a_generic_reason(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.fail_at.enqueue_for(person, 10)

    task = wait_state(celery_env, task_uuid, TaskState.ERROR, TaskState.DONE)
    assert task.error_message == "The task failed because of an unexpected error."


# --- cancel ------------------------------------------------------------------------------------


def notes(env: CeleryEnv, task_uuid: uuid.UUID) -> list[str]:
    return run_notes(env.run_log, task_uuid)


def wait_reported(env: CeleryEnv, task_uuid: uuid.UUID) -> None:
    """Until the running job has reported twice: it is past its start, in its loop."""
    wait_for(
        lambda: row(task_uuid).progression >= 2,
        timeout=30,
        what="the job to report",
        logs=env.logs,
    )


def test_a_pending_job_cancelled_never_runs_its_body(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    # Held by the worker until its countdown: the revoke sent with the cancel reaches it.
    task_uuid = jobs.mailing.apply_async_for(person, (5, 0.01), countdown=2)
    assert cancel_task(task_uuid) is True
    task = row(task_uuid)
    assert task.state == TaskState.CANCELLED and task.completed_at is not None

    sentinel = jobs.mailing.apply_async_for(person, (1, 0.0), countdown=2.5)
    wait_state(celery_env, sentinel, TaskState.DONE)
    assert notes(celery_env, task_uuid) == [], "the cancelled job's body never ran"
    assert row(task_uuid).state == TaskState.CANCELLED


def test_a_job_cancelled_while_no_worker_ran_is_revoked_when_one_takes_it(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    queue = f"{celery_env.queue}-late"
    task_uuid = jobs.mailing.apply_async_for(person, (5, 0.01), queue=queue)
    assert cancel_task(task_uuid) is True  # no worker consumes this queue: the revoke is lost
    sentinel = jobs.mailing.apply_async_for(person, (1, 0.0), queue=queue)

    late = celery_env.start_worker("late", concurrency=1, queue=queue)
    try:
        wait_state(celery_env, sentinel, TaskState.DONE)
        assert notes(celery_env, task_uuid) == [], "checked when received: never ran"
        assert row(task_uuid).state == TaskState.CANCELLED
        assert re.search(rf"revoked task.*{task_uuid}", late.log(), re.I), late.log()[-2000:]
    finally:
        late.stop()


def test_a_running_job_stops_at_its_next_report(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.mailing.enqueue_for(person, 200, 0.1)
    wait_reported(celery_env, task_uuid)
    client = Client()
    client.force_login(person)
    asked = time.monotonic()
    response = client.post(reverse("osis_async:task-cancel", args=[task_uuid]))
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True

    task = wait_state(celery_env, task_uuid, TaskState.CANCELLED, TaskState.DONE, TaskState.ERROR)
    took = time.monotonic() - asked
    assert task.state == TaskState.CANCELLED
    assert took < 2.0, f"stopped {took:.2f} s after the cancel"
    assert task.completed_at is not None and task.completed_at >= task.started_at
    assert 0 < task.progression < 100
    assert notes(celery_env, task_uuid) == ["started"], "it stopped at a report"
    log = celery_worker.log()
    assert f"{task_uuid}] raised expected: TaskCancelled" in log, "logged as expected, at INFO"
    assert "raised unexpected: TaskCancelled" not in log, "a cancel is not logged as an error"
    assert client.post(reverse("osis_async:task-cancel", args=[task_uuid])).status_code == 409


def test_a_job_that_opted_in_is_terminated(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.stuck.enqueue_for(person, 30)
    assert row(task_uuid).runner == "celery-terminate"
    wait_state(celery_env, task_uuid, TaskState.PROCESSING)
    assert cancel_task(task_uuid) is True
    task = wait_state(celery_env, task_uuid, TaskState.CANCELLED, TaskState.ERROR, timeout=15)
    assert task.state == TaskState.CANCELLED
    assert notes(celery_env, task_uuid) == ["started"], "ended without reporting"
    wait_for(
        lambda: re.search(rf"Terminating {task_uuid}", celery_worker.log()),
        timeout=5,
        what="the worker to kill the process running the job",
        logs=celery_env.logs,
    )


def test_a_cancelled_job_that_autoretries_is_not_run_again(
    celery_env: CeleryEnv, celery_worker: WorkerProcess, person: object
) -> None:
    task_uuid = jobs.mailing_retried.enqueue_for(person, 200, 0.1)
    wait_reported(celery_env, task_uuid)
    assert cancel_task(task_uuid) is True
    task = wait_state(celery_env, task_uuid, TaskState.CANCELLED, TaskState.DONE, TaskState.ERROR)
    assert task.state == TaskState.CANCELLED
    time.sleep(2.5)  # past the retry's delay: the attempt autoretry_for queued is discarded
    assert notes(celery_env, task_uuid) == ["started"], "one attempt, never run again"
    assert row(task_uuid).state == TaskState.CANCELLED
