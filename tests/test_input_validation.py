"""Bad input to ``AsyncTask.objects.create``, ``save``, ``bulk_create`` and ``update_task``: the
same clear ``InvalidTaskUpdate`` on SQLite and PostgreSQL, and nothing written (issue 9)."""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from django.utils.translation import gettext_lazy

from osis_async.exceptions import InvalidTaskUpdate
from osis_async.models import AsyncTask, TaskState
from osis_async.text import escape_unstorable
from osis_async.utils import format_exception, update_task

pytestmark = pytest.mark.django_db

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EAST = datetime.timezone(datetime.timedelta(hours=5))


@pytest.fixture
def task(make_task: Callable[..., AsyncTask], user: Any) -> AsyncTask:
    return make_task(person=user)


def snapshot(task: AsyncTask) -> dict[str, Any]:
    return AsyncTask.objects.filter(pk=task.pk).values().get()


# --- text the database cannot store -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a\x00b", "description holds U+0000 at index 1, which the database cannot store"),
        ("\ud800", "description holds U+D800 at index 0"),
        ("ok \udfff", "description holds U+DFFF at index 3"),
    ],
)
def test_update_task_refuses_unstorable_text(task: AsyncTask, text: str, fragment: str) -> None:
    before = snapshot(task)
    with pytest.raises(InvalidTaskUpdate) as info:
        update_task(task.uuid, description=text, progression=10)
    assert fragment in str(info.value)
    assert "without NUL (U+0000) or lone surrogates (U+D800 to U+DFFF)" in str(info.value)
    assert snapshot(task) == before


@pytest.mark.parametrize("field", ["name", "description", "traceback"])
@pytest.mark.parametrize("bad", ["a\x00b", "x\ud83d"])
def test_create_refuses_unstorable_text(user: Any, field: str, bad: str) -> None:
    values = {"name": "Export", "description": "", "traceback": "", field: bad}
    with pytest.raises(InvalidTaskUpdate, match=rf"^{field} holds U\+"):
        AsyncTask.objects.create(person=user, **values)
    assert not AsyncTask.objects.exists()


def test_an_exception_message_with_unstorable_characters_is_escaped(task: AsyncTask) -> None:
    update_task(task.uuid, state=TaskState.ERROR, exception=ValueError("bad byte \x00 or \ud800"))
    row = snapshot(task)
    assert row["state"] == TaskState.ERROR
    assert row["traceback"] == "ValueError: bad byte \\x00 or \\ud800\n"


def test_format_exception_keeps_everything_else() -> None:
    text = format_exception(RuntimeError("é ✓ \U0001f600 \\x00 already escaped"))
    assert text == "RuntimeError: é ✓ \U0001f600 \\x00 already escaped\n"
    assert escape_unstorable("a\x00\x00b\udc80") == "a\\x00\\x00b\\udc80"


def test_mark_errored_escapes_its_message(task: AsyncTask) -> None:
    AsyncTask.objects.filter(pk=task.pk).mark_errored(timezone.now(), "stopped \x00 by hand")
    assert snapshot(task)["traceback"] == "stopped \\x00 by hand"


# --- AsyncTask.objects.create ---------------------------------------------------------------


BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name '' is empty"),
    ({"name": "   "}, "name '   ' is empty"),
    ({"name": "x" * 101}, "is 101 characters long; at most 100 fit"),
    ({"name": None}, "name must be a str, got NoneType None"),
    ({"name": 12}, "name must be a str, got int 12"),
    ({"description": None}, "description must be a str, got NoneType None"),
    ({"description": b"bytes"}, "description must be a str, got bytes b'bytes'"),
    ({"description": "x" * 2001}, "is 2,001 characters long; at most 2,000 are allowed"),
    ({"state": "FINISHED"}, "state 'FINISHED' is not one of PENDING, PROCESSING, DONE, ERROR"),
    ({"state": "done"}, "state 'done' is not one of"),
    ({"progression": 101}, "progression 101 is out of range; give a whole percentage from 0"),
    ({"progression": -1}, "progression -1 is out of range"),
    ({"progression": True}, "progression True is not an int"),
    ({"progression": 50.5}, "progression 50.5 is not an int"),
    ({"time_to_live": -1}, "time_to_live -1 is out of range"),
    ({"time_to_live": 2**31}, "time_to_live 2147483648 is out of range"),
    ({"time_to_live": 10**12}, "from 0 to 2,147,483,647"),
    ({"time_to_live": "5"}, "time_to_live '5' is not an int"),
    ({"uuid": "not-a-uuid"}, "uuid 'not-a-uuid' is not a UUID"),
    ({"traceback": None}, "traceback must be a str"),
    ({"state": TaskState.DONE}, "completed_at is empty on a DONE task"),
    ({"state": TaskState.ERROR}, "completed_at is empty on a ERROR task"),
    ({"state": TaskState.PROCESSING}, "started_at is empty on a PROCESSING task"),
    (
        {"completed_at": NOW},
        "is given to a PENDING task; only a DONE, ERROR or CANCELLED task has one",
    ),
    (
        {"state": TaskState.PROCESSING, "started_at": NOW, "completed_at": NOW},
        "is given to a PROCESSING task",
    ),
    (
        {"state": TaskState.DONE, "started_at": NOW, "completed_at": NOW - datetime.timedelta(1)},
        "is before started_at",
    ),
    ({"started_at": datetime.datetime(2026, 3, 1, 12)}, "is naive while USE_TZ is on"),
    ({"started_at": "2026-03-01"}, "started_at '2026-03-01' is not a datetime"),
    ({"started_at": datetime.date(2026, 3, 1)}, "is not a datetime"),
    ({"started_at": datetime.datetime.min.replace(tzinfo=EAST)}, "is out of range; give a"),
    ({"started_at": datetime.datetime.max.replace(tzinfo=UTC)}, "from 1900-01-01 to 5000-01-01"),
    (
        {"state": TaskState.DONE, "completed_at": datetime.datetime(1, 1, 1, tzinfo=UTC)},
        "completed_at datetime.datetime(1, 1, 1, 0, 0, tzinfo=datetime.timezone.utc) is out",
    ),
]


@pytest.mark.parametrize(("values", "fragment"), BAD_CREATES)
def test_create_refuses_bad_values_with_a_clear_message(
    user: Any, values: dict[str, Any], fragment: str
) -> None:
    fields = {"name": "Export", "description": "All students", "person": user, **values}
    with pytest.raises(InvalidTaskUpdate) as info:
        AsyncTask.objects.create(**fields)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not AsyncTask.objects.exists()


def test_long_values_are_shortened_in_the_message(user: Any) -> None:
    with pytest.raises(InvalidTaskUpdate) as info:
        AsyncTask.objects.create(name="Export", description="y" * 10_000, person=user)
    message = str(info.value)
    assert len(message) < 300
    assert "is 10,000 characters long" in message


def test_create_accepts_what_the_contract_allows(user: Any) -> None:
    started = NOW.astimezone(EAST)
    task = AsyncTask.objects.create(
        name=gettext_lazy("Export"),
        description="d" * 2000,
        person=None,
        state="DONE",
        progression=100,
        time_to_live=2_147_483_647,
        started_at=started,
        completed_at=started,
        traceback="",
    )
    row = snapshot(task)
    assert (row["name"], row["state"], row["time_to_live"]) == ("Export", "DONE", 2_147_483_647)
    assert row["started_at"] == row["completed_at"] == NOW
    assert row["person_id"] is None


def test_a_pending_task_may_keep_the_start_of_a_failed_attempt(user: Any) -> None:
    task = AsyncTask.objects.create(name="Retried", person=user, started_at=NOW)
    assert snapshot(task)["started_at"] == NOW


@override_settings(USE_TZ=False)
def test_without_use_tz_an_aware_datetime_is_stored_as_local_time(user: Any) -> None:
    task = AsyncTask.objects.create(
        name="n", person=user, state=TaskState.PROCESSING, started_at=NOW
    )
    assert snapshot(task)["started_at"] == timezone.make_naive(NOW)


def test_an_offset_with_a_fraction_of_a_second_is_stored_as_its_moment(user: Any) -> None:
    # Python allows such an offset; PostgreSQL cannot read it: the moment is sent in UTC.
    odd = datetime.timezone(datetime.timedelta(hours=1, microseconds=1))
    started = datetime.datetime(2026, 3, 1, 13, 0, tzinfo=odd)
    task = AsyncTask.objects.create(name="n", person=user, started_at=started)
    assert snapshot(task)["started_at"] == started
    update_task(task.uuid, state=TaskState.DONE, completed_at=started)
    assert snapshot(task)["completed_at"] == started


@override_settings(USE_TZ=False, TIME_ZONE="Europe/Brussels")
def test_without_use_tz_a_local_time_that_does_not_exist_is_refused(user: Any) -> None:
    skipped = datetime.datetime(2026, 3, 29, 2, 30)  # clocks go from 02:00 to 03:00
    with pytest.raises(InvalidTaskUpdate, match="does not exist in Europe/Brussels"):
        AsyncTask.objects.create(name="n", person=user, started_at=skipped)
    task = AsyncTask.objects.create(name="n", person=user, started_at=skipped.replace(hour=3))
    assert snapshot(task)["started_at"] == skipped.replace(hour=3)
    twice = datetime.datetime(2026, 10, 25, 2, 30)  # happens twice: it exists
    assert update_task(task.uuid, started_at=twice) is True
    assert snapshot(task)["started_at"] == twice


def test_save_of_an_existing_task_is_checked_too(task: AsyncTask) -> None:
    before = snapshot(task)
    task.progression = 300
    with pytest.raises(InvalidTaskUpdate, match="progression 300 is out of range"):
        task.save()
    task.progression = 0
    task.state = TaskState.DONE
    with pytest.raises(InvalidTaskUpdate, match="completed_at is empty on a DONE task"):
        task.save()
    assert snapshot(task) == before


def test_save_of_some_fields_reads_nothing_more(
    task: AsyncTask, django_assert_num_queries: Any
) -> None:
    loaded = AsyncTask.objects.only("pk", "description", "person").get(pk=task.pk)
    loaded.description = "Changed"
    with django_assert_num_queries(1):
        loaded.save(update_fields=["description"])
    assert snapshot(task)["description"] == "Changed"
    loaded.description = "\x00"
    with pytest.raises(InvalidTaskUpdate, match="description holds U"):
        loaded.save(update_fields=["description"])


def test_bulk_create_checks_every_task_before_writing_any(user: Any) -> None:
    tasks = [AsyncTask(name=f"t{i}", person=user) for i in range(3)]
    tasks.append(AsyncTask(name="bad", person=user, progression=101))
    with pytest.raises(InvalidTaskUpdate, match="progression 101"):
        AsyncTask.objects.bulk_create(iter(tasks))
    assert not AsyncTask.objects.exists()
    assert len(AsyncTask.objects.bulk_create(tasks[:3])) == 3


# --- update_task: consistent timestamps -------------------------------------------------------


def processing(task: AsyncTask, started: datetime.datetime) -> None:
    update_task(task.uuid, state=TaskState.PROCESSING, started_at=started)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (
            {"state": "PROCESSING", "completed_at": NOW},
            "completed_at datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc) is "
            "given without state DONE, ERROR or CANCELLED",
        ),
        ({"completed_at": NOW}, "is given without state DONE, ERROR or CANCELLED"),
        ({"state": "PENDING", "completed_at": NOW}, "without state DONE, ERROR or CANCELLED"),
        (
            {"state": "DONE", "started_at": NOW, "completed_at": NOW - datetime.timedelta(1)},
            "is before started_at",
        ),
        ({"state": "DONE", "completed_at": NOW - datetime.timedelta(seconds=1)}, "is before"),
        ({"started_at": datetime.datetime.min.replace(tzinfo=EAST)}, "started_at"),
        ({"description": "x" * 2001}, "at most 2,000 are allowed"),
    ],
)
def test_update_task_refuses_inconsistent_timestamps(
    task: AsyncTask, kwargs: dict[str, Any], fragment: str
) -> None:
    processing(task, NOW)
    before = snapshot(task)
    with pytest.raises(InvalidTaskUpdate) as info:
        update_task(task.uuid, **kwargs)
    assert fragment in str(info.value)
    assert snapshot(task) == before


def test_a_completed_at_before_the_rows_start_names_both(task: AsyncTask) -> None:
    processing(task, NOW)
    with pytest.raises(InvalidTaskUpdate) as info:
        update_task(task.uuid, state=TaskState.DONE, completed_at=NOW - datetime.timedelta(1))
    assert re.search(
        r"completed_at datetime\.datetime\(2026, 2, 28, .*\) is before started_at "
        r"datetime\.datetime\(2026, 3, 1, .*\)",
        str(info.value),
    )


def test_a_started_at_after_the_rows_completed_at_is_refused(task: AsyncTask) -> None:
    # A row finished by hand, then put back: update_task alone never makes one.
    AsyncTask.objects.filter(pk=task.pk).update(state=TaskState.PROCESSING, completed_at=NOW)
    with pytest.raises(InvalidTaskUpdate, match="is before started_at"):
        update_task(task.uuid, started_at=NOW + datetime.timedelta(minutes=1))
    assert update_task(task.uuid, started_at=NOW - datetime.timedelta(minutes=1)) is True


def test_finishing_with_consistent_timestamps_is_one_statement(
    task: AsyncTask, django_assert_num_queries: Any
) -> None:
    processing(task, NOW)
    with django_assert_num_queries(1):
        assert update_task(task.uuid, state=TaskState.DONE, completed_at=NOW) is True
    assert snapshot(task)["completed_at"] == NOW


def test_a_finished_task_still_answers_false_not_an_error(task: AsyncTask) -> None:
    processing(task, NOW)
    update_task(task.uuid, state=TaskState.DONE, completed_at=NOW)
    assert update_task(task.uuid, state=TaskState.ERROR, completed_at=NOW) is False
    assert update_task(task.uuid, state=TaskState.ERROR, completed_at=NOW - NOW.resolution) is False


def test_the_completed_at_written_for_you_is_never_before_the_start(task: AsyncTask) -> None:
    # The start was written by a machine whose clock is ahead of this one.
    ahead = timezone.now() + datetime.timedelta(minutes=5)
    processing(task, ahead)
    assert update_task(task.uuid, state=TaskState.DONE) is True
    row = snapshot(task)
    assert row["completed_at"] == ahead
    ahead_too = timezone.now() + datetime.timedelta(minutes=5)
    other = AsyncTask.objects.create(name="other", person=task.person)
    update_task(other.uuid, state=TaskState.ERROR, started_at=ahead_too)
    assert snapshot(other)["completed_at"] == ahead_too


# --- sizes ----------------------------------------------------------------------------------


@override_settings(OSIS_ASYNC_MAX_DESCRIPTION_LENGTH=10)
def test_the_description_length_follows_the_setting(task: AsyncTask) -> None:
    assert update_task(task.uuid, description="0123456789") is True
    with pytest.raises(InvalidTaskUpdate, match="is 11 characters long; at most 10 are allowed"):
        update_task(task.uuid, description="0123456789!")
    with pytest.raises(InvalidTaskUpdate, match="OSIS_ASYNC_MAX_DESCRIPTION_LENGTH"):
        AsyncTask.objects.create(name="n", description="x" * 11)
    assert snapshot(task)["description"] == "0123456789"


def test_a_huge_description_is_refused_at_once(task: AsyncTask) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidTaskUpdate, match="is 10,000,000 characters long"):
        update_task(task.uuid, description="x" * 10_000_000)
    assert time.monotonic() - started < 1
    assert snapshot(task)["description"] == "A task"


def test_one_statement_per_progress_tick_still(
    task: AsyncTask, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1) as captured:
        update_task(task.uuid, progression=30)
    assert " WHERE " in captured.captured_queries[0]["sql"]
    assert "started_at" not in captured.captured_queries[0]["sql"].split(" WHERE ", 1)[1]
