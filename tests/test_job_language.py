"""A tracked job runs in the language active when it was enqueued (the person's), in this
process: the recording on both integrations and the worker side's switch. Real workers:
tests/integration (test_celery, test_django_tasks)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import translation

from demo.jobs import JOBS, work
from osis_async.integrations import celery as tracked_celery
from osis_async.integrations import django_tasks as tracked_tasks
from osis_async.integrations.tracking import job_language, supported_language
from osis_async.models import AsyncTask, TaskState

try:
    from django.tasks import task  # type: ignore[attr-defined,unused-ignore]
except ImportError:
    from django_tasks import task  # type: ignore[no-redef,unused-ignore]

QUICK_EXPORT = dataclasses.replace(JOBS["export"], seconds=0)
EXPORT_DONE = {
    "fr": "Export des étudiants : 12\u00a0000 sur 12\u00a0000 écrits.",
    "en": "Exporting students: 12,000 of 12,000 written.",
}
languages_seen: list[str | None] = []


@tracked_tasks.tracked_task(name=JOBS["export"].name, description=JOBS["export"].description)
@task()
def quick_export() -> None:
    languages_seen.append(translation.get_language())
    work(QUICK_EXPORT, tracked_tasks.progress())


@tracked_tasks.tracked_task(name="Async")
@task()
async def async_language() -> None:
    languages_seen.append(translation.get_language())


@pytest.fixture(autouse=True)
def _forget_languages() -> None:
    languages_seen.clear()


@pytest.mark.parametrize(
    ("given", "supported"),
    [
        ("fr", "fr"),
        ("fr-be", "fr"),  # the site offers fr
        ("en-gb", "en"),
        ("de", None),  # not in LANGUAGES
        ("", None),
        (None, None),
        (7, None),
        ("fr" * 40, None),
    ],
)
def test_supported_language(given: object, supported: str | None) -> None:
    assert supported_language(given) == supported


def test_job_language_switches_and_restores() -> None:
    with translation.override("en"):
        with job_language("fr"):
            assert translation.get_language() == "fr"
        assert translation.get_language() == "en"
        with job_language("de"), job_language(None):
            assert translation.get_language() == "en", "no usable language: nothing changes"


# --- django.tasks -------------------------------------------------------------------------------


@pytest.fixture
def row(transactional_db: None) -> AsyncTask:
    person = get_user_model().objects.create(username=f"user-{uuid.uuid4().hex[:8]}")
    return AsyncTask.objects.create(name="Export", person=person)


@pytest.mark.parametrize(
    ("recorded", "expected"), [("fr", "fr"), ("en", "en"), ("de", "en"), (None, "en")]
)
def test_the_wrapper_runs_the_job_in_the_recorded_language(
    row: AsyncTask, recorded: str | None, expected: str
) -> None:
    """What a worker does with the keywords ``enqueue_for`` added (the worker's own language,
    LANGUAGE_CODE, is English)."""
    extra = {tracked_tasks.TASK_KWARG: str(row.uuid)}
    if recorded is not None:
        extra[tracked_tasks.LANGUAGE_KWARG] = recorded
    quick_export.call(**extra)
    assert languages_seen == [expected]
    task = AsyncTask.objects.get(pk=row.pk)
    assert (task.state, task.description) == (TaskState.DONE, EXPORT_DONE[expected])
    assert translation.get_language() == "en", "the worker's language is back"


def test_an_async_job_runs_in_the_recorded_language(row: AsyncTask) -> None:
    async_language.call(
        **{tracked_tasks.TASK_KWARG: str(row.uuid), tracked_tasks.LANGUAGE_KWARG: "fr"}
    )
    assert languages_seen == ["fr"]


def test_an_untracked_call_ignores_the_language_keyword() -> None:
    quick_export.call(**{tracked_tasks.LANGUAGE_KWARG: "fr"})
    assert languages_seen == ["en"]


@pytest.mark.parametrize("active", ["fr", "en"])
def test_enqueue_for_records_the_active_language(
    row: AsyncTask, monkeypatch: pytest.MonkeyPatch, active: str
) -> None:
    sent: list[dict[str, Any]] = []
    backend = quick_export.get_backend()
    monkeypatch.setattr(
        type(backend), "enqueue", lambda self, task, args, kwargs: sent.append(kwargs)
    )
    with translation.override(active):
        task_uuid = quick_export.enqueue_for(row.person)
    assert sent == [
        {tracked_tasks.TASK_KWARG: str(task_uuid), tracked_tasks.LANGUAGE_KWARG: active}
    ]
    translation.deactivate_all()
    try:
        quick_export.enqueue_for(row.person)
    finally:
        translation.activate("en")
    assert tracked_tasks.LANGUAGE_KWARG not in sent[-1], "none active: none recorded"
    with pytest.raises(TypeError, match="osis_async_language"):
        quick_export.enqueue_for(row.person, **{tracked_tasks.LANGUAGE_KWARG: "fr"})


# --- Celery -------------------------------------------------------------------------------------


def test_apply_async_for_puts_the_language_in_the_header(
    row: AsyncTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery import Celery

    app = Celery("osis_async_language_tests", set_as_current=False, broker="memory://")

    @tracked_celery.tracked_task(name="Header")
    @app.task(bind=True)
    def header_job(self: Any) -> None:
        pass

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(header_job._task, "apply_async", lambda **options: sent.append(options))
    before = time.time()
    with translation.override("fr"):
        task_uuid = header_job.enqueue_for(row.person)
    header = dict(sent[0]["headers"][tracked_celery.HEADER])
    sent_at = header.pop("sent_at")
    assert header == {"uuid": str(task_uuid), "description": "", "language": "fr"}
    assert before <= sent_at <= time.time(), "when it was sent (the cancel check reads it)"


@pytest.mark.parametrize(("recorded", "expected"), [("fr", "fr"), ("de", "en"), (None, "en")])
def test_the_signal_handlers_run_the_job_in_the_recorded_language(
    row: AsyncTask, recorded: str | None, expected: str
) -> None:
    """task_prerun switches to the header's language, task_postrun switches back."""
    meta: dict[str, Any] = {"uuid": str(row.uuid), "description": "Base"}
    if recorded is not None:
        meta["language"] = recorded
    request = SimpleNamespace(**{tracked_celery.HEADER: meta, "retries": 0, "is_eager": True})
    job = SimpleNamespace(request=request, max_retries=None)
    with override_settings(LANGUAGE_CODE="en"), translation.override("en"):
        tracked_celery._on_prerun(task=job)
        assert translation.get_language() == expected
        tracked_celery._on_success(sender=job)
        tracked_celery._on_postrun(task=job)
        assert translation.get_language() == "en"
    assert AsyncTask.objects.get(pk=row.pk).state == TaskState.DONE
