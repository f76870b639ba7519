from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from osis_async import retention
from osis_async.models import AsyncTask, TaskState

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def aged(
    make_task: Callable[..., AsyncTask],
    days_ago: float,
    state: str = TaskState.DONE,
    *,
    completed: bool = True,
    created_days_ago: float | None = None,
) -> AsyncTask:
    """A task in ``state`` last written (and, if ``completed``, completed) ``days_ago`` days ago."""
    task = make_task()
    when = timezone.now() - days_ago * DAY
    AsyncTask.objects.filter(pk=task.pk).update(
        state=state,
        completed_at=when if completed else None,
        updated_at=when,
        created_at=timezone.now() - (created_days_ago or days_ago) * DAY,
    )
    return task


def purge(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command("purge_async_tasks", *args, stdout=out, **options)
    return out.getvalue()


def remaining() -> set[int]:
    return set(AsyncTask.objects.values_list("pk", flat=True))


def statements(captured: CaptureQueriesContext, verb: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].split()[0] == verb]


def selections(captured: CaptureQueriesContext) -> list[str]:
    """The batches' primary-key selections (not the rows ``delete()`` may load for signals)."""
    return [sql for sql in statements(captured, "SELECT") if " LIMIT " in sql]


def ids_in(sql: str) -> list[int]:
    match = re.search(r'"id" IN \(([^)]*)\)', sql)
    assert match, sql
    return [int(pk) for pk in match.group(1).split(",")]


def test_deletes_old_finished_tasks_and_keeps_the_rest(
    make_task: Callable[..., AsyncTask],
) -> None:
    old_done = aged(make_task, 31, TaskState.DONE)
    old_error = aged(make_task, 400, TaskState.ERROR)
    recent_done = aged(make_task, 29, TaskState.DONE)
    recent_error = aged(make_task, 1, TaskState.ERROR)
    # Running tasks are never deleted, however old their dates (even a stray completed_at).
    old_pending = aged(make_task, 400, TaskState.PENDING)
    old_processing = aged(make_task, 400, TaskState.PROCESSING)
    assert purge() == "2 finished task(s) older than 30 day(s) deleted.\n"
    assert remaining() == {t.pk for t in (recent_done, recent_error, old_pending, old_processing)}
    assert not AsyncTask.objects.filter(pk__in=[old_done.pk, old_error.pk]).exists()


def test_finished_task_without_completed_at_is_dated_by_updated_at(
    make_task: Callable[..., AsyncTask],
) -> None:
    old = aged(make_task, 31, completed=False)
    # Created long ago but last written (finished) recently: kept.
    recent = aged(make_task, 2, completed=False, created_days_ago=400)
    assert purge() == "1 finished task(s) older than 30 day(s) deleted.\n"
    assert remaining() == {recent.pk}
    assert old.pk not in remaining()


def test_completed_at_wins_over_updated_at(make_task: Callable[..., AsyncTask]) -> None:
    task = aged(make_task, 31)
    AsyncTask.objects.filter(pk=task.pk).update(updated_at=timezone.now())
    purge()
    assert remaining() == set()


def test_deletes_in_batches_of_primary_keys(make_task: Callable[..., AsyncTask]) -> None:
    tasks = [aged(make_task, 40) for _ in range(5)]
    kept = aged(make_task, 1)
    with CaptureQueriesContext(connection) as captured:
        out = purge("--batch-size", "2", verbosity=2)
    deletes = statements(captured, "DELETE")
    assert len(deletes) == 3
    batches = [sorted(ids_in(sql)) for sql in deletes]
    assert batches == [[tasks[0].pk, tasks[1].pk], [tasks[2].pk, tasks[3].pk], [tasks[4].pk]]
    selects = selections(captured)
    assert len(selects) == 3
    assert all("ORDER BY" in sql and "LIMIT 2" in sql for sql in selects)
    assert '"id" >' not in selects[0]
    assert f'"id" > {tasks[1].pk}' in selects[1]
    assert f'"id" > {tasks[3].pk}' in selects[2]
    assert "batch 1: 2 task(s) deleted\nbatch 2: 2 task(s) deleted\nbatch 3: 1 task(s)" in out
    assert out.endswith("5 finished task(s) older than 30 day(s) deleted.\n")
    assert remaining() == {kept.pk}


def test_a_full_last_batch_ends_with_an_empty_selection(
    make_task: Callable[..., AsyncTask],
) -> None:
    for _ in range(4):
        aged(make_task, 40)
    with CaptureQueriesContext(connection) as captured:
        assert purge("--batch-size", "2") == "4 finished task(s) older than 30 day(s) deleted.\n"
    assert len(statements(captured, "DELETE")) == 2
    assert len(selections(captured)) == 3


def test_delete_signals_see_each_purged_task(make_task: Callable[..., AsyncTask]) -> None:
    from django.db.models.signals import post_delete

    old = [aged(make_task, 40) for _ in range(3)]
    aged(make_task, 1)
    seen: list[int] = []

    def receiver(sender: Any, instance: AsyncTask, **kwargs: Any) -> None:
        seen.append(instance.pk)

    post_delete.connect(receiver, sender=AsyncTask, dispatch_uid="test_retention")
    try:
        purge("--batch-size", "2")
    finally:
        post_delete.disconnect(dispatch_uid="test_retention", sender=AsyncTask)
    assert sorted(seen) == [t.pk for t in old]


def test_pauses_between_batches_only(
    make_task: Callable[..., AsyncTask], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        aged(make_task, 40)
    slept: list[float] = []
    monkeypatch.setattr(retention.time, "sleep", slept.append)
    purge("--batch-size", "2", "--pause", "0.25")
    assert slept == [0.25, 0.25]
    slept.clear()
    aged(make_task, 40)
    purge("--batch-size", "2")
    assert slept == []


def test_dry_run_counts_and_writes_nothing(make_task: Callable[..., AsyncTask]) -> None:
    for _ in range(3):
        aged(make_task, 40)
    aged(make_task, 1)
    before = remaining()
    with CaptureQueriesContext(connection) as captured:
        out = purge("--dry-run", verbosity=2)
    assert out.endswith("3 finished task(s) older than 30 day(s) would be deleted (dry run).\n")
    assert "would be counted" in out
    assert {q["sql"].split()[0] for q in captured.captured_queries} == {"SELECT"}
    assert remaining() == before


def test_idempotent(make_task: Callable[..., AsyncTask]) -> None:
    aged(make_task, 40)
    kept = aged(make_task, 1)
    assert purge() == "1 finished task(s) older than 30 day(s) deleted.\n"
    assert purge() == "0 finished task(s) older than 30 day(s) deleted.\n"
    assert remaining() == {kept.pk}


def test_empty_table() -> None:
    with CaptureQueriesContext(connection) as captured:
        assert purge() == "0 finished task(s) older than 30 day(s) deleted.\n"
    assert statements(captured, "DELETE") == []


@override_settings(OSIS_ASYNC_RETENTION=7)
def test_retention_setting(make_task: Callable[..., AsyncTask]) -> None:
    aged(make_task, 8)
    kept = aged(make_task, 6)
    assert purge() == "1 finished task(s) older than 7 day(s) deleted.\n"
    assert remaining() == {kept.pk}


@override_settings(OSIS_ASYNC_RETENTION=7)
def test_older_than_overrides_the_setting(make_task: Callable[..., AsyncTask]) -> None:
    old = aged(make_task, 100)
    mid = aged(make_task, 50)
    assert purge("--older-than", "60") == "1 finished task(s) older than 60 day(s) deleted.\n"
    assert remaining() == {mid.pk}
    assert old.pk not in remaining()


def test_default_retention_is_30_days() -> None:
    assert retention.retention_days() == 30


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--batch-size", "0"], "--batch-size '0' is not allowed: give a whole number from 1 to "),
        (["--batch-size", "10001"], "'10001' is not allowed: give a whole number from 1 to 10000"),
        (["--batch-size", "abc"], "--batch-size 'abc' is not allowed"),
        (["--batch-size", "2.5"], "--batch-size '2.5' is not allowed"),
        (["--older-than", "0"], "--older-than '0' is not allowed: give a whole number from 1 to "),
        (["--older-than", "-3"], "--older-than '-3' is not allowed"),
        (["--pause", "-1"], "--pause '-1' is not allowed: give a number of seconds from 0 to 60"),
        (["--pause", "nan"], "--pause 'nan' is not allowed"),
        (["--pause", "61"], "--pause '61' is not allowed"),
        (["--dry-run", "--batch-size", "0"], "--batch-size '0' is not allowed"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_done(
    make_task: Callable[..., AsyncTask], args: list[str], fragment: str
) -> None:
    aged(make_task, 40)
    before = remaining()
    with CaptureQueriesContext(connection) as captured, pytest.raises(CommandError) as error:
        purge(*args)
    assert fragment in str(error.value)
    assert captured.captured_queries == []
    assert remaining() == before


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"batch_size": 0}, "--batch-size 0 is not allowed"),
        ({"batch_size": True}, "--batch-size True is not allowed"),
        ({"older_than": 2.5}, "--older-than 2.5 is not allowed"),
        ({"pause": "soon"}, "--pause 'soon' is not allowed"),
    ],
)
def test_bad_keyword_arguments_are_refused(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(CommandError, match=re.escape(fragment)):
        purge(**options)


def test_keyword_arguments(make_task: Callable[..., AsyncTask]) -> None:
    for _ in range(3):
        aged(make_task, 40)
    with CaptureQueriesContext(connection) as captured:
        assert purge(batch_size=1, older_than=35, pause=0).startswith("3 finished task(s)")
    assert len(statements(captured, "DELETE")) == 3


def test_unknown_option_is_refused() -> None:
    with pytest.raises(CommandError):
        purge("--everything")


@pytest.mark.parametrize("value", [0, -1, "30", 2.5, None, True])
def test_a_bad_retention_setting_stops_the_command(
    make_task: Callable[..., AsyncTask], value: Any
) -> None:
    aged(make_task, 400)
    before = remaining()
    with override_settings(OSIS_ASYNC_RETENTION=value), pytest.raises(CommandError) as error:
        purge()
    assert f"OSIS_ASYNC_RETENTION {value!r} is not a positive whole number of days" in str(
        error.value
    )
    assert remaining() == before


@pytest.mark.parametrize("value", [0, -1, "30", 2.5, None, True])
def test_check_reports_a_bad_retention(value: Any) -> None:
    with override_settings(OSIS_ASYNC_RETENTION=value):
        found = {m.id: m.msg for m in run_checks() if m.id and m.id.startswith("osis_async.")}
    assert found == {
        "osis_async.E010": f"OSIS_ASYNC_RETENTION {value!r} is not a positive whole number of days."
    }


@pytest.mark.parametrize("value", [1, 30, 3650])
def test_check_accepts_a_good_retention(value: int) -> None:
    with override_settings(OSIS_ASYNC_RETENTION=value):
        assert not [m for m in run_checks() if m.id == "osis_async.E010"]


def test_quiet_at_verbosity_zero(make_task: Callable[..., AsyncTask]) -> None:
    aged(make_task, 40)
    assert purge(verbosity=0) == ""
    assert remaining() == set()


def test_logs_what_it_did(make_task: Callable[..., AsyncTask], caplog: Any) -> None:
    aged(make_task, 40)
    with caplog.at_level("DEBUG", logger="osis_async"):
        purge(verbosity=0)
    assert "Retention purge: batch 1 deleted 1 task(s)." in caplog.text
    assert "1 finished task(s) older than 30 day(s) deleted." in caplog.text


def test_purge_refuses_bad_arguments() -> None:
    now = timezone.now()
    with pytest.raises(ValueError, match="batch_size must be from 1 to 10000, got 0"):
        retention.purge(now, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        retention.purge(now, batch_size=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pause must be from 0 to 60 seconds"):
        retention.purge(now, pause=-1)
    with pytest.raises(ValueError, match="the retention 0 is not a positive"):
        retention.cutoff(0)


def test_cutoff() -> None:
    now = datetime.datetime(2026, 3, 29, 12, 0, tzinfo=datetime.timezone.utc)
    assert retention.cutoff(now=now) == now - 30 * DAY
    assert retention.cutoff(2, now=now) == now - 2 * DAY


def test_celery_task(make_task: Callable[..., AsyncTask]) -> None:
    pytest.importorskip("celery")
    from osis_async.integrations.celery import purge_async_tasks

    assert purge_async_tasks.name == "osis_async.purge_async_tasks"
    for _ in range(3):
        aged(make_task, 40)
    kept = aged(make_task, 1)
    with CaptureQueriesContext(connection) as captured:
        assert purge_async_tasks(batch_size=2) == 3
    assert len(statements(captured, "DELETE")) == 2
    assert remaining() == {kept.pk}


@pytest.mark.django_db(transaction=True)
def test_each_batch_is_committed_on_its_own(
    make_task: Callable[..., AsyncTask],
) -> None:
    tasks = [aged(make_task, 40) for _ in range(5)]

    class Stop(Exception):
        pass

    def stop(seconds: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        retention.purge(retention.cutoff(), batch_size=2, pause=1, sleep=stop)
    # The run died after its first batch: that batch stays deleted, the others stay.
    assert remaining() == {t.pk for t in tasks[2:]}


def test_the_index_serves_the_purge_on_postgresql(make_task: Callable[..., AsyncTask]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL (OSIS_ASYNC_TEST_DB=postgres)")
    aged(make_task, 40)
    queryset = AsyncTask.objects.purgeable(retention.cutoff())
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        count_plan = queryset.only("pk").explain()
        batch_plan = queryset.order_by("pk").values_list("pk", flat=True)[:1000].explain()
    assert "osis_async_completed_idx" in count_plan, count_plan
    assert "Seq Scan" not in batch_plan, batch_plan


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_lock_is_held_between_batches_on_postgresql(
    make_task: Callable[..., AsyncTask],
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks are checked on PostgreSQL (OSIS_ASYNC_TEST_DB=postgres)")
    tasks = [aged(make_task, 40) for _ in range(4)]
    outcomes: list[object] = []

    def touch_the_first_batch() -> None:
        # Another process writing the rows the first batch deleted: with the batch committed
        # it finds nothing at once; were its transaction still open, it would wait on the locks.
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
            outcomes.append(
                AsyncTask.objects.filter(pk__in=[tasks[0].pk, tasks[1].pk]).update(description="x")
            )
        except BaseException as error:  # noqa: BLE001 - reported below
            outcomes.append(error)
        finally:
            connections.close_all()

    def between_batches(seconds: float) -> None:
        thread = threading.Thread(target=touch_the_first_batch)
        thread.start()
        thread.join()

    assert retention.purge(retention.cutoff(), batch_size=2, pause=1, sleep=between_batches) == 4
    assert outcomes == [0, 0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_locked_elsewhere_is_skipped_not_waited_for_on_postgresql(
    make_task: Callable[..., AsyncTask],
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks are checked on PostgreSQL (OSIS_ASYNC_TEST_DB=postgres)")
    tasks = [aged(make_task, 40) for _ in range(3)]
    locked, release = threading.Event(), threading.Event()

    def hold_a_lock() -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                list(AsyncTask.objects.select_for_update().filter(pk=tasks[1].pk))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_a_lock)
    thread.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        assert purge("--batch-size", "2") == "2 finished task(s) older than 30 day(s) deleted.\n"
    finally:
        release.set()
        thread.join()
    assert remaining() == {tasks[1].pk}
    assert purge() == "1 finished task(s) older than 30 day(s) deleted.\n"
