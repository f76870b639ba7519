"""Bad input inside a tracked job, with real trackers on the suite's database (issue 9): a bad
description is refused at the ``report`` call, and one bad value never blocks the state write."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.db import DataError
from django.test import override_settings
from django.utils.translation import gettext_lazy

from osis_async.exceptions import InvalidTaskUpdate
from osis_async.integrations.tracking import TaskSpec, Tracker, enqueue
from osis_async.integrations.tracking import tracker as tracker_module
from osis_async.models import AsyncTask, TaskState


@pytest.fixture
def task(transactional_db: None) -> AsyncTask:
    person = get_user_model().objects.create(username=f"user-{uuid.uuid4().hex[:8]}")
    return AsyncTask.objects.create(name="Job", description="Base", person=person)


def row(task: AsyncTask) -> AsyncTask:
    return AsyncTask.objects.get(pk=task.pk)


def tracker_for(task: AsyncTask, *, interval: float = 0, **options: Any) -> Tracker:
    """A tracker writing in this thread."""
    return Tracker(task.uuid, background=False, interval=interval, **options)


# --- progress.report ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "fragment"),
    [
        ("a\x00b", "description holds U+0000 at index 1"),
        ("\ud800", "description holds U+D800 at index 0"),
        ("x" * 2001, "is 2,001 characters long; at most 2,000 are allowed"),
    ],
)
def test_report_refuses_a_bad_description_at_the_call(
    task: AsyncTask, description: str, fragment: str
) -> None:
    tracker = tracker_for(task)
    tracker.start()
    tracker.progress.report(10, description="Row 10")
    with pytest.raises(InvalidTaskUpdate, match=re.escape(fragment)):
        tracker.progress.report(50, description=description)
    # Nothing of that call was kept, and nothing is left pending to block the next writes.
    assert (tracker.progress.percent, tracker.progress.description) == (10, "Row 10")
    assert tracker.flush()
    tracker.progress.report(60)
    assert row(task).progression == 60
    assert tracker.succeed()
    done = row(task)
    assert (done.state, done.description, done.progression) == (TaskState.DONE, "Row 10", 100)
    assert done.completed_at is not None


def test_an_untracked_report_checks_its_description_too() -> None:
    from osis_async.integrations.progress import current_progress

    with pytest.raises(InvalidTaskUpdate):
        current_progress().report(description="\x00")


# --- the final write --------------------------------------------------------------------------


def test_a_description_refused_by_update_task_does_not_block_done(
    task: AsyncTask, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = tracker_for(task, interval=3600)
    tracker.start()
    tracker.progress.report(40, description="Twelve chars")  # held back by the interval
    with (
        override_settings(OSIS_ASYNC_MAX_DESCRIPTION_LENGTH=5),  # lowered meanwhile
        caplog.at_level(logging.WARNING, logger="osis_async.integrations"),
    ):
        assert tracker.succeed()
    done = row(task)
    assert (done.state, done.progression, done.description) == (TaskState.DONE, 100, "Base")
    assert done.completed_at is not None and done.started_at == tracker.started_at
    assert f"Task {task.uuid} refused description" in caplog.text
    assert "Gave up" not in caplog.text


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_a_value_the_database_refuses_does_not_block_the_state(
    task: AsyncTask,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    outcome: str,
) -> None:
    real_update = tracker_module.update_task

    def picky_database(*args: Any, **kwargs: Any) -> bool:
        # As a database whose encoding cannot hold the text would.
        if kwargs.get("description") == "Ünïcode":
            raise DataError('character with byte sequence 0xc3 0x9c has no equivalent in "LATIN1"')
        return real_update(*args, **kwargs)

    monkeypatch.setattr(tracker_module, "update_task", picky_database)
    tracker = tracker_for(task, interval=3600)
    tracker.start()
    tracker.progress.report(30, description="Ünïcode")
    with caplog.at_level(logging.WARNING, logger="osis_async.integrations"):
        if outcome == "succeed":
            assert tracker.succeed()
        else:
            assert tracker.fail(ValueError("row 31 is broken"))
    final = row(task)
    if outcome == "succeed":
        assert (final.state, final.progression) == (TaskState.DONE, 100)
    else:
        assert (final.state, final.progression) == (TaskState.ERROR, 30)
        assert "ValueError: row 31 is broken" in final.traceback
    assert final.description == "Base"
    assert final.completed_at is not None and final.started_at == tracker.started_at
    assert f"Task {task.uuid} refused description (character with byte" in caplog.text
    assert "Gave up" not in caplog.text


def test_when_even_the_progress_is_refused_the_state_change_is_written(
    task: AsyncTask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_update = tracker_module.update_task

    def broken_database(*args: Any, **kwargs: Any) -> bool:
        if "progression" in kwargs or "description" in kwargs:
            raise DataError("value too long for type character varying(10)")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(tracker_module, "update_task", broken_database)
    tracker = tracker_for(task, interval=3600)
    tracker.start()  # refused, then written without its progression
    assert row(task).state == TaskState.PROCESSING
    tracker.progress.report(30, description="Row 30")
    with caplog.at_level(logging.WARNING, logger="osis_async.integrations"):
        assert tracker.fail(ValueError("row 31 is broken"))
    final = row(task)
    assert (final.state, final.progression, final.description) == (TaskState.ERROR, 0, "Base")
    assert "ValueError: row 31 is broken" in final.traceback
    assert "refused description, progression" in caplog.text


def test_a_refused_progress_write_is_dropped_not_retried_forever(
    task: AsyncTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_update = tracker_module.update_task
    refused = []

    def picky_database(*args: Any, **kwargs: Any) -> bool:
        if kwargs.get("description") == "Ünïcode":
            refused.append(kwargs)
            raise DataError("no equivalent in LATIN1")
        return real_update(*args, **kwargs)

    monkeypatch.setattr(tracker_module, "update_task", picky_database)
    tracker = tracker_for(task)
    tracker.start()
    tracker.progress.report(30, description="Ünïcode")
    tracker.progress.report(31)
    tracker.progress.report(32, description="Plain")
    assert len(refused) == 1
    assert (row(task).progression, row(task).description) == (32, "Plain")
    assert tracker.succeed()
    assert row(task).state == TaskState.DONE


def test_a_failure_whose_message_holds_a_nul_keeps_its_traceback(task: AsyncTask) -> None:
    tracker = tracker_for(task)
    tracker.start()
    tracker.progress.report(70)
    try:
        raise ValueError("column \x00 of row \udc80")
    except ValueError as error:
        assert tracker.fail(error)
    failed = row(task)
    assert (failed.state, failed.progression) == (TaskState.ERROR, 70)
    assert "ValueError: column \\x00 of row \\udc80\n" in failed.traceback
    assert "in test_a_failure_whose_message_holds_a_nul" in failed.traceback


def test_a_retry_note_escapes_the_error_and_fits_the_description(task: AsyncTask) -> None:
    base = "b" * 2000
    first = tracker_for(task, base_description=base)
    first.start(attempt=1, max_attempts=3)
    assert first.retry(ConnectionError("refused \x00"), attempt=1)
    waiting = row(task).description
    assert len(waiting) == 2000
    assert waiting.endswith("… (attempt 1 failed: ConnectionError: refused \\x00; retrying)")
    second = tracker_for(task, base_description=base)
    second.start(attempt=2, max_attempts=3)
    started = row(task).description
    assert len(started) == 2000 and started.endswith("… (attempt 2 of 3)")
    assert second.succeed()
    assert row(task).description == base


# --- TaskSpec and enqueue -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"name": "a\x00b"}, "name holds U+0000 at index 1"),
        ({"name": "  "}, "name '  ' is empty"),
        ({"name": "n" * 101}, "at most 100 fit"),
        ({"name": "Export", "description": "x" * 2001}, "at most 2,000 are allowed"),
        ({"name": "Export", "description": "\ud800"}, "description holds U+D800"),
        ({"name": "Export", "time_to_live": -1}, "time_to_live -1 is out of range"),
        ({"name": "Export", "time_to_live": 2**31}, "time_to_live 2147483648 is out of range"),
    ],
)
def test_a_task_spec_refuses_plain_bad_text_at_once(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidTaskUpdate, match=re.escape(fragment)):
        TaskSpec(**spec)


@override_settings(OSIS_ASYNC_MAX_DESCRIPTION_LENGTH=20)
def test_a_lazy_description_is_cut_when_enqueued() -> None:
    spec = TaskSpec(name=gettext_lazy("n" * 120), description=gettext_lazy("d" * 50))
    name, description = spec.resolve()
    assert (len(name), name[-1]) == (100, "…")
    assert description == "d" * 19 + "…"


@pytest.mark.parametrize(
    ("person", "shown"),
    [
        (None, "None"),
        (AnonymousUser(), "<django.contrib.auth.models.AnonymousUser object"),
        (get_user_model()(username="unsaved"), "<User: unsaved>"),
        (Group(pk=1, name="staff"), "<Group: staff>"),
        ("alice", "'alice'"),
    ],
)
def test_enqueue_refuses_a_person_nobody_is(
    person: Any, shown: str, transactional_db: None
) -> None:
    sent: list[Any] = []
    with pytest.raises(InvalidTaskUpdate) as info:
        enqueue(TaskSpec(name="Export"), person, lambda *args: sent.append(args))
    message = str(info.value)
    assert message.startswith(f"person {shown}")
    assert message.endswith(
        "is not a saved auth.User: enqueue_for needs the person the task is shown to."
    )
    assert sent == []
    assert not AsyncTask.objects.exists()


@pytest.mark.parametrize("person", [None, AnonymousUser()])
def test_both_integrations_enqueue_for_refuse_it(person: Any, transactional_db: None) -> None:
    pytest.importorskip("celery")
    from tests.integration import jobs

    with pytest.raises(InvalidTaskUpdate, match="is not a saved auth.User"):
        jobs.count_to.enqueue_for(person, 3)
    with pytest.raises(InvalidTaskUpdate, match="is not a saved auth.User"):
        jobs.count_to.apply_async_for(person, args=(3,), countdown=5)
    with pytest.raises(InvalidTaskUpdate, match="is not a saved auth.User"):
        jobs.add_up.enqueue_for(person, "key", [1, 2])
    assert not AsyncTask.objects.exists()


def test_enqueue_for_a_saved_person_still_works(task: AsyncTask) -> None:
    sent: list[Any] = []
    task_uuid = enqueue(TaskSpec(name="Export"), task.person, lambda *args: sent.append(args))
    assert sent == [(task_uuid, "")]
    assert AsyncTask.objects.get(uuid=task_uuid).person == task.person
