"""Tracked ``django.tasks`` jobs, run as a worker runs them (in this process): one line attaches
a file, ``TaskFailed`` gives the person its reason in their language, and any other exception a
generic one without its text."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from osis_async.exceptions import TaskFailed
from osis_async.integrations import django_tasks as tracked_tasks
from osis_async.models import AsyncTask, TaskState
from tests.conftest import stored_files

try:
    from django.tasks import task  # type: ignore[attr-defined,unused-ignore]
except ImportError:
    from django_tasks import task  # type: ignore[no-redef,unused-ignore]


@tracked_tasks.tracked_task(name="Report")
@task()
def report_job() -> None:
    tracked_tasks.progress().result(file=b"%PDF-1.7 report", filename="Relevé 2026.pdf")


@tracked_tasks.tracked_task(name="Import")
@task()
def failing_import() -> None:
    raise TaskFailed(_("Never started."))  # any translated message


@tracked_tasks.tracked_task(name="Import")
@task()
def crashing_import() -> None:
    raise RuntimeError("password=hunter2")


@pytest.fixture
def row(transactional_db: None) -> AsyncTask:
    person = get_user_model().objects.create(username=f"user-{uuid.uuid4().hex[:8]}")
    return AsyncTask.objects.create(name="Job", person=person)


def run(job: Any, row: AsyncTask, language: str = "en") -> AsyncTask:
    with contextlib.suppress(Exception):  # the job's own exception, as a worker sees it
        job.call(
            **{tracked_tasks.TASK_KWARG: str(row.uuid), tracked_tasks.LANGUAGE_KWARG: language}
        )
    return AsyncTask.objects.get(pk=row.pk)


def test_a_job_attaches_a_file_in_one_line(row: AsyncTask, storage_dir: Path) -> None:
    task = run(report_job, row)
    assert task.state == TaskState.DONE
    assert task.result_filename == "Relevé 2026.pdf"
    (path,) = stored_files(storage_dir)
    assert path.read_bytes() == b"%PDF-1.7 report"


def test_task_failed_gives_its_reason_in_the_persons_language(row: AsyncTask) -> None:
    task = run(failing_import, row, "fr")
    assert task.state == TaskState.ERROR
    assert task.error_message == "N'a jamais démarré."
    assert "TaskFailed" in task.traceback


def test_an_unexpected_exception_gives_a_generic_reason(row: AsyncTask) -> None:
    task = run(crashing_import, row)
    assert task.state == TaskState.ERROR
    assert task.error_message == "The task failed because of an unexpected error."
    assert "hunter2" in task.traceback  # for staff, in the admin
    assert "hunter2" not in task.error_message


def test_an_untracked_run_keeps_no_result(storage_dir: Path) -> None:
    report_job.call()
    assert stored_files(storage_dir) == []
