from __future__ import annotations

import datetime
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from osis_async.models import AsyncTask, TaskState
from osis_async.models.task import PENDING_EXPIRED_MESSAGE, TTL_EXPIRED_MESSAGE

pytestmark = pytest.mark.django_db
UTC = datetime.timezone.utc


def started(make_task: Callable[..., AsyncTask], minutes_ago: float, ttl: int = 5) -> AsyncTask:
    task = make_task(time_to_live=ttl)
    AsyncTask.objects.filter(pk=task.pk).update(
        state=TaskState.PROCESSING,
        started_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
    )
    return task


def sweep(*args: str) -> str:
    out = StringIO()
    call_command("check_async_task_ttl", *args, stdout=out)
    return out.getvalue()


def state(task: AsyncTask) -> str:
    return AsyncTask.objects.values_list("state", flat=True).get(pk=task.pk)


@pytest.mark.parametrize(
    "time_zone", ["UTC", "Europe/Brussels", "America/Santiago", "Asia/Kolkata"]
)
def test_expires_processing_tasks_past_their_ttl(
    make_task: Callable[..., AsyncTask], time_zone: str
) -> None:
    with override_settings(TIME_ZONE=time_zone):
        late = started(make_task, minutes_ago=6, ttl=5)
        on_time = started(make_task, minutes_ago=4, ttl=5)
        long_ttl = started(make_task, minutes_ago=50, ttl=60)
        zero_ttl = started(make_task, minutes_ago=0.1, ttl=0)
        assert sweep() == "2 task(s) marked as expired.\n"
    assert [state(t) for t in (late, on_time, long_ttl, zero_ttl)] == [
        "ERROR",
        "PROCESSING",
        "PROCESSING",
        "ERROR",
    ]
    row = AsyncTask.objects.get(pk=late.pk)
    assert row.completed_at is not None
    assert row.traceback == TTL_EXPIRED_MESSAGE


def test_one_update_for_all_expired_tasks(make_task: Callable[..., AsyncTask]) -> None:
    for _ in range(5):
        started(make_task, minutes_ago=10)
    with CaptureQueriesContext(connection) as captured:
        sweep()
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["UPDATE"]
    assert AsyncTask.objects.filter(state=TaskState.ERROR).count() == 5


def test_dry_run_counts_and_changes_nothing(make_task: Callable[..., AsyncTask]) -> None:
    task = started(make_task, minutes_ago=10)
    out = StringIO()
    call_command("check_async_task_ttl", "--dry-run", verbosity=2, stdout=out)
    assert f"would expire {task.uuid} Task" in out.getvalue()
    assert "1 task(s) would be marked as expired (dry run)." in out.getvalue()
    assert state(task) == "PROCESSING"


def test_idempotent(make_task: Callable[..., AsyncTask]) -> None:
    task = started(make_task, minutes_ago=10)
    assert sweep() == "1 task(s) marked as expired.\n"
    completed_at = AsyncTask.objects.get(pk=task.pk).completed_at
    assert sweep() == "", "nothing expired: nothing said (a cron job mails nothing)"
    assert sweep("--verbosity", "2") == "0 task(s) marked as expired.\n"
    assert AsyncTask.objects.get(pk=task.pk).completed_at == completed_at


def test_quiet_at_verbosity_zero(make_task: Callable[..., AsyncTask]) -> None:
    started(make_task, minutes_ago=10)
    out = StringIO()
    call_command("check_async_task_ttl", verbosity=0, stdout=out)
    assert out.getvalue() == ""
    call_command("check_async_task_ttl", "--dry-run", verbosity=0, stdout=out)
    assert out.getvalue() == ""


def test_quiet_when_nothing_expired_at_the_default_verbosity(
    make_task: Callable[..., AsyncTask], caplog: Any
) -> None:
    started(make_task, minutes_ago=1)  # still within its time to live
    with caplog.at_level("DEBUG", logger="osis_async"):
        assert sweep() == ""
        assert sweep("--verbosity", "0") == ""
    assert caplog.records == [], "nothing to say: nothing logged either"
    assert sweep("--verbosity", "2") == "0 task(s) marked as expired.\n"
    assert sweep("--dry-run") == "0 task(s) would be marked as expired (dry run).\n"


def test_says_it_once_when_logging_is_configured(
    make_task: Callable[..., AsyncTask], caplog: Any
) -> None:
    """With the osis_async logger at INFO on the console (the demo's settings), the count
    appears once: on stdout at verbosity 1 and up, in the log at verbosity 0."""
    started(make_task, minutes_ago=10)
    with caplog.at_level("INFO", logger="osis_async"):
        assert sweep() == "1 task(s) marked as expired.\n"
    assert caplog.records == [], "printed: not logged as well"
    started(make_task, minutes_ago=10)
    with caplog.at_level("INFO", logger="osis_async"):
        assert sweep("--verbosity", "2") == "1 task(s) marked as expired.\n"
    assert caplog.records == []


def test_finished_tasks_are_left_alone(make_task: Callable[..., AsyncTask]) -> None:
    task = started(make_task, minutes_ago=10)
    AsyncTask.objects.filter(pk=task.pk).update(state=TaskState.DONE)
    sweep()
    assert state(task) == "DONE"


def test_keeps_a_traceback_already_written(make_task: Callable[..., AsyncTask]) -> None:
    task = started(make_task, minutes_ago=10)
    AsyncTask.objects.filter(pk=task.pk).update(traceback="Traceback: worker said why")
    sweep()
    assert AsyncTask.objects.get(pk=task.pk).traceback == "Traceback: worker said why"


@override_settings(OSIS_ASYNC_PENDING_TIMEOUT=60)
def test_pending_task_that_never_starts_expires_after_the_pending_timeout(
    make_task: Callable[..., AsyncTask],
) -> None:
    stuck = make_task(time_to_live=5)
    queued = make_task(time_to_live=5)
    AsyncTask.objects.filter(pk=stuck.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=61)
    )
    AsyncTask.objects.filter(pk=queued.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=59)
    )
    assert sweep() == "1 task(s) marked as expired.\n"
    assert (state(stuck), state(queued)) == ("ERROR", "PENDING")
    assert AsyncTask.objects.get(pk=stuck.pk).traceback == PENDING_EXPIRED_MESSAGE


def test_default_pending_timeout_is_one_day(make_task: Callable[..., AsyncTask]) -> None:
    old = make_task()
    AsyncTask.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=25)
    )
    young = make_task()
    AsyncTask.objects.filter(pk=young.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=23)
    )
    sweep()
    assert (state(old), state(young)) == ("ERROR", "PENDING")


@override_settings(TIME_ZONE="Europe/Brussels")
@pytest.mark.parametrize(
    ("started_utc", "expired"),
    [
        # 02:50 CEST, before the clocks go back; "now" is 02:00 CET, ten minutes later.
        (datetime.datetime(2026, 10, 25, 0, 50, tzinfo=UTC), True),
        # 02:58 CET... two minutes before "now" in real time.
        (datetime.datetime(2026, 10, 25, 0, 58, tzinfo=UTC), False),
    ],
)
def test_the_hour_a_daylight_saving_change_repeats(
    make_task: Callable[..., AsyncTask], started_utc: datetime.datetime, expired: bool
) -> None:
    now = datetime.datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    task = make_task(time_to_live=5)
    AsyncTask.objects.filter(pk=task.pk).update(state=TaskState.PROCESSING, started_at=started_utc)
    assert list(AsyncTask.objects.expired(now)) == ([task] if expired else [])
    assert AsyncTask.objects.expire(now) == int(expired)


def test_processing_task_without_started_at_is_not_expired_by_ttl(
    make_task: Callable[..., AsyncTask],
) -> None:
    task = make_task()
    AsyncTask.objects.filter(pk=task.pk).update(state=TaskState.PROCESSING)
    sweep()
    assert state(task) == "PROCESSING"


def test_unknown_option_is_refused() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("check_async_task_ttl", "--older-than", "5")


def test_logs_what_it_did(make_task: Callable[..., AsyncTask], caplog: Any) -> None:
    """At verbosity 0 (cron, output discarded) what it did goes to the log, once."""
    started(make_task, minutes_ago=10)
    with caplog.at_level("INFO", logger="osis_async"):
        assert sweep("--verbosity", "0") == ""
    assert [record.getMessage() for record in caplog.records] == ["1 task(s) marked as expired."]
    assert caplog.records[0].levelname == "INFO"


def test_marked_errored_never_ends_before_it_started(make_task: Callable[..., AsyncTask]) -> None:
    # Started by a worker whose clock is ahead of this one.
    ahead = timezone.now() + datetime.timedelta(minutes=2)
    task = make_task(state=TaskState.PROCESSING, started_at=ahead)
    assert AsyncTask.objects.filter(pk=task.pk).mark_errored(timezone.now(), "Stopped.") == 1
    task.refresh_from_db()
    assert task.state == TaskState.ERROR
    assert task.completed_at is not None and task.completed_at >= task.started_at
    task.full_clean()
    task.save()
