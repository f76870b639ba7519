"""The jobs the integration tests run: tracked Celery tasks and tracked django.tasks tasks.

Each run appends a line to the file named by ``OSIS_ASYNC_TEST_RUN_LOG`` (when set): the task
id, the worker's host name and the attempt, so a test can count who ran what and how often.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from typing import Any

import psycopg
from celery import shared_task
from django.db import connection
from django.utils import translation

from demo.jobs import JOBS, work
from osis_async.exceptions import TaskFailed
from osis_async.integrations import celery as tracked_celery
from osis_async.integrations import django_tasks as tracked_tasks
from osis_async.integrations import tracking
from osis_async.models import AsyncTask

try:
    from django.tasks import task  # type: ignore[attr-defined,unused-ignore]
except ImportError:
    from django_tasks import task  # type: ignore[no-redef,unused-ignore]

logger = logging.getLogger("tests.integration.jobs")


class BadRow(ValueError):
    pass


def record(run_id: str, attempt: int = 1, note: str = "") -> None:
    path = os.environ.get("OSIS_ASYNC_TEST_RUN_LOG")
    if not path:
        return
    hostname = os.environ.get("OSIS_ASYNC_TEST_WORKER", socket.gethostname())
    line = f"{run_id} {hostname} {attempt} {note}".rstrip() + "\n"
    with open(path, "a", encoding="utf-8") as log:  # one short write: atomic with O_APPEND
        log.write(line)


def _record(task: Any, note: str = "") -> None:
    record(task.request.id, (task.request.retries or 0) + 1, note)


# --- Celery ------------------------------------------------------------------------------------


@tracked_celery.tracked_task(name="Counting", description="Counts to n.", time_to_live=2)
@shared_task(bind=True)
def count_to(self: Any, n: int, step_seconds: float = 0.0, first_pause: float = 0.0) -> int:
    _record(self)
    time.sleep(first_pause)
    for i in range(1, n + 1):
        if step_seconds:
            time.sleep(step_seconds)
        tracked_celery.progress(self).report(i, n, description=f"Counted {i} of {n}")
    return n


@tracked_celery.tracked_task(name="Grades import", description="Imports grades.")
@shared_task(bind=True)
def fail_at(self: Any, percent: int) -> None:
    _record(self)
    tracked_celery.progress(self).report(percent)
    raise BadRow(f"bad row at {percent}%")


@tracked_celery.tracked_task(name="Bad bytes", description="Fails on a NUL byte.")
@shared_task(bind=True)
def fail_with_nul(self: Any) -> None:
    _record(self)
    tracked_celery.progress(self).report(25)
    raise BadRow("row 7 holds \x00 and \ud800")


@tracked_celery.tracked_task(name="Flaky", description="Fails, then works.")
@shared_task(bind=True, max_retries=3)
def flaky(self: Any, failures: int, countdown: float = 1.0, pause: float = 0.0) -> str:
    _record(self)
    tracked_celery.progress(self).report(30)
    time.sleep(pause)
    if self.request.retries < failures:
        error = ConnectionError(f"try {self.request.retries + 1} could not connect")
        raise self.retry(exc=error, countdown=countdown)
    tracked_celery.progress(self).report(100)
    return "ok"


@tracked_celery.tracked_task(name="Always failing", description="Never connects.")
@shared_task(
    bind=True,
    autoretry_for=(ConnectionError,),
    max_retries=2,
    default_retry_delay=0.3,
    retry_backoff=False,
)
def always_failing(self: Any) -> None:
    _record(self)
    tracked_celery.progress(self).report(10)
    raise ConnectionError(f"attempt {self.request.retries + 1}: server unreachable")


@tracked_celery.tracked_task(name="Slow", description="Takes its time.", time_to_live=1)
@shared_task(bind=True)
def slow(self: Any, seconds: float) -> None:
    _record(self)
    steps = max(1, int(seconds * 10))
    for i in range(1, steps + 1):
        time.sleep(0.1)
        tracked_celery.progress(self).report(i, steps)


@tracked_celery.tracked_task(name="Recorded", description="Records its run.")
@shared_task(bind=True)
def record_run(self: Any) -> None:
    _record(self)


@tracked_celery.tracked_task(name="Hiccup", description="Loses its database connection.")
@shared_task(bind=True)
def hiccup(self: Any) -> None:
    """Kills the tracking's database connection between two progress writes, and goes on."""
    progress = tracked_celery.progress(self)
    progress.report(10)
    first = progress.flush()

    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    pid = tracking.flusher().call(backend_pid)  # the connection the tracking writes with
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(autocommit=True, **params) as side:
        side.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)
    progress.report(50)
    second = progress.flush()  # fails: the connection is gone (logged, not raised)
    progress.report(80)
    third = progress.flush()  # reconnects and writes 50 -> 80
    seen = AsyncTask.objects.get(uuid=self.request.id).progression
    _record(self, f"flushes={first},{second},{third} seen={seen}")


#: The demo's students export, in a fifth of a second: its descriptions are translated.
QUICK_EXPORT = dataclasses.replace(JOBS["export"], seconds=0.2)


def language() -> str:
    return translation.get_language() or "-"


@tracked_celery.tracked_task(name=JOBS["export"].name, description=JOBS["export"].description)
@shared_task(bind=True, max_retries=1)
def demo_export(self: Any, fail_first: bool = False) -> None:
    """The demo's export; with ``fail_first``, its first attempt fails and is retried."""
    _record(self, language())
    if fail_first and not self.request.retries:
        raise self.retry(exc=ConnectionError("first try"), countdown=1.0)
    work(QUICK_EXPORT, tracked_celery.progress(self))


# --- django.tasks ------------------------------------------------------------------------------


@tracked_tasks.tracked_task(name="Sum", description="Adds numbers up.", time_to_live=2)
@task()
def add_up(key: str, numbers: list[int], pause: float = 0.0) -> int:
    record(key)
    time.sleep(pause)
    total = 0
    for i, number in enumerate(numbers, 1):
        total += number
        tracked_tasks.progress().report(i, len(numbers), description=f"Added {i} numbers")
        if pause:
            time.sleep(pause / len(numbers))
    return total


@tracked_tasks.tracked_task(name="Broken import", description="Fails half-way.")
@task()
def broken(key: str, percent: int) -> None:
    record(key)
    tracked_tasks.progress().report(percent)
    raise BadRow(f"bad row at {percent}%")


@tracked_tasks.tracked_task(name="Bad bytes", description="Fails on a NUL byte.")
@task()
def broken_with_nul(key: str) -> None:
    record(key)
    tracked_tasks.progress().report(25)
    raise BadRow("row 7 holds \x00 and \ud800")


@tracked_tasks.tracked_task(name="With context")
@task(takes_context=True)
def with_context(context: Any, key: str) -> int:
    record(key)
    tracked_tasks.progress().report(1, 2)
    return int(context.attempt)


@tracked_tasks.tracked_task(name="Async sum")
@task()
async def async_add_up(key: str, numbers: list[int]) -> int:
    record(key)
    total = 0
    for i, number in enumerate(numbers, 1):
        total += number
        await tracked_tasks.progress().areport(i, len(numbers))
    return total


@tracked_tasks.tracked_task(name=JOBS["export"].name, description=JOBS["export"].description)
@task()
def demo_export_task(key: str) -> None:
    record(key, note=language())
    work(QUICK_EXPORT, tracked_tasks.progress())


# --- results and failure reasons (issue 12) ---------------------------------------------------

REPORT_BYTES = b"id;name\n1;Ada\n"
REPORT_NAME = "Élèves 2026.csv"
UNKNOWN_STUDENT = "Row 1644 has an unknown student id."


@tracked_celery.tracked_task(name="Report", description="Writes a file.")
@shared_task(bind=True)
def celery_report(self: Any) -> None:
    tracked_celery.progress(self).result(file=REPORT_BYTES, filename=REPORT_NAME)


@tracked_celery.tracked_task(name="Checked import", description="Refuses a bad row.")
@shared_task(bind=True)
def celery_refuse(self: Any) -> None:
    raise TaskFailed(UNKNOWN_STUDENT)


@tracked_tasks.tracked_task(name="Report", description="Writes a file.")
@task()
def tasks_report(key: str) -> None:
    tracked_tasks.progress().result(file=REPORT_BYTES, filename=REPORT_NAME)


@tracked_tasks.tracked_task(name="Checked import", description="Refuses a bad row.")
@task()
def tasks_refuse(key: str) -> None:
    raise TaskFailed(UNKNOWN_STUDENT)


# --- cancel ------------------------------------------------------------------------------------


@tracked_celery.tracked_task(name="Mailing", description="Sends the mails.", time_to_live=2)
@shared_task(bind=True)
def mailing(self: Any, n: int, period: float) -> int:
    _record(self, "started")
    for i in range(1, n + 1):
        time.sleep(period)
        tracked_celery.progress(self).report(i, n)
    _record(self, "finished")
    return n


@tracked_celery.tracked_task(name="Stuck", description="Never reports.", cancel="terminate")
@shared_task(bind=True)
def stuck(self: Any, seconds: float) -> None:
    _record(self, "started")
    time.sleep(seconds)
    _record(self, "finished")


@tracked_tasks.tracked_task(name="Mailing", description="Sends the mails.", time_to_live=2)
@task()
def mail_out(key: str, n: int, period: float) -> int:
    record(key, note="started")
    for i in range(1, n + 1):
        time.sleep(period)
        tracked_tasks.progress().report(i, n)
    record(key, note="finished")
    return n


@tracked_celery.tracked_task(name="Retried mailing", description="Retries on any error.")
@shared_task(bind=True, autoretry_for=(Exception,), max_retries=3, default_retry_delay=0.5)
def mailing_retried(self: Any, n: int, period: float) -> int:
    _record(self, "started")
    for i in range(1, n + 1):
        time.sleep(period)
        tracked_celery.progress(self).report(i, n)
    return n
