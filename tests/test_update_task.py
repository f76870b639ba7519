from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from osis_async.exceptions import InvalidTaskUpdate, TaskNotFound
from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(make_task: Callable[..., AsyncTask], user: Any) -> AsyncTask:
    return make_task(person=user)


def snapshot(task: AsyncTask) -> dict[str, Any]:
    return AsyncTask.objects.filter(pk=task.pk).values().get()


def test_state_accepts_member_or_name(task: AsyncTask) -> None:
    update_task(task.uuid, state=TaskState.PROCESSING)
    assert snapshot(task)["state"] == "PROCESSING"
    update_task(str(task.uuid), state="DONE")
    assert snapshot(task)["state"] == "DONE"


def test_string_uuid_is_accepted(task: AsyncTask) -> None:
    assert update_task(str(task.uuid), progression=7) is True
    assert snapshot(task)["progression"] == 7


def test_each_field_is_written(task: AsyncTask) -> None:
    started = timezone.now() - datetime.timedelta(seconds=30)
    update_task(task.uuid, progression=12, description="Half way", started_at=started)
    row = snapshot(task)
    assert (row["progression"], row["description"], row["started_at"]) == (12, "Half way", started)


def test_processing_sets_started_at_once(task: AsyncTask) -> None:
    update_task(task.uuid, state=TaskState.PROCESSING)
    first = snapshot(task)["started_at"]
    assert first is not None
    update_task(task.uuid, state=TaskState.PROCESSING)
    assert snapshot(task)["started_at"] == first


def test_done_sets_completed_at_and_full_progression(task: AsyncTask) -> None:
    update_task(task.uuid, state=TaskState.PROCESSING, progression=40)
    update_task(task.uuid, state=TaskState.DONE)
    row = snapshot(task)
    assert row["completed_at"] is not None
    assert row["progression"] == 100


def test_error_keeps_progression(task: AsyncTask) -> None:
    update_task(task.uuid, state=TaskState.PROCESSING, progression=40)
    update_task(task.uuid, state=TaskState.ERROR)
    row = snapshot(task)
    assert (row["state"], row["progression"]) == ("ERROR", 40)
    assert row["completed_at"] is not None


def test_one_statement_per_call(task: AsyncTask, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1) as captured:
        update_task(task.uuid, progression=30, description="Thirty")
    sql = captured.captured_queries[0]["sql"]
    assert sql.startswith("UPDATE")
    assignments = sql.split(" WHERE ", 1)[0]
    assert re.findall(r'(?:SET |, )"(\w+)" = ', assignments) == [
        "progression",
        "description",
        "updated_at",
    ]


def test_only_given_fields_are_written(task: AsyncTask) -> None:
    stale = AsyncTask.objects.get(pk=task.pk)
    update_task(task.uuid, description="written by process A")
    update_task(stale.uuid, progression=55)
    row = snapshot(task)
    assert (row["description"], row["progression"]) == ("written by process A", 55)


def test_updated_at_moves(task: AsyncTask) -> None:
    before = snapshot(task)["updated_at"]
    update_task(task.uuid, progression=1)
    assert snapshot(task)["updated_at"] > before


def raise_and_catch() -> BaseException:
    def inner() -> None:
        raise KeyError("missing-column")

    try:
        try:
            inner()
        except KeyError as error:
            raise RuntimeError("import failed") from error
    except RuntimeError as error:
        return error
    raise AssertionError("unreachable")


def test_exception_stores_the_full_traceback(task: AsyncTask) -> None:
    update_task(task.uuid, exception=raise_and_catch())
    stored = snapshot(task)["traceback"]
    assert stored.startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing-column'" in stored
    assert "The above exception was the direct cause" in stored
    assert stored.rstrip().endswith("RuntimeError: import failed")
    assert "in inner" in stored


def test_exception_never_raised_is_stored_too(task: AsyncTask) -> None:
    update_task(task.uuid, exception=ValueError("not raised"))
    assert snapshot(task)["traceback"] == "ValueError: not raised\n"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"progression": 101}, "progression 101 is out of range"),
        ({"progression": -1}, "progression -1 is out of range"),
        ({"progression": 50.5}, "progression 50.5 is not an int"),
        ({"progression": "50"}, "progression '50' is not an int"),
        ({"progression": True}, "progression True is not an int"),
        ({"state": "FINISHED"}, "state 'FINISHED' is not one of PENDING, PROCESSING, DONE, ERROR"),
        ({"state": "done"}, "state 'done' is not one of"),
        ({"state": 3}, "state 3 is not one of"),
        ({"started_at": "2024-01-01"}, "started_at '2024-01-01' is not a datetime"),
        ({"started_at": datetime.datetime(2024, 1, 1, 12)}, "is naive while USE_TZ is on"),
        ({"completed_at": datetime.datetime(2024, 1, 1, 12)}, "completed_at"),
        ({"description": 12}, "description must be a str, got int 12"),
        ({"exception": "boom"}, "exception must be an exception instance"),
        ({"state": "DONE", "progression": 500}, "progression 500 is out of range"),
    ],
)
def test_bad_input_names_the_value_and_writes_nothing(
    task: AsyncTask, kwargs: dict[str, Any], fragment: str
) -> None:
    before = snapshot(task)
    with pytest.raises(InvalidTaskUpdate) as info:
        update_task(task.uuid, **kwargs)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
    assert snapshot(task) == before


def test_bad_uuid_is_a_clear_error() -> None:
    with pytest.raises(InvalidTaskUpdate, match="uuid 'not-a-uuid' is not a UUID"):
        update_task("not-a-uuid", progression=1)


def test_unknown_uuid_raises_task_not_found(task: AsyncTask) -> None:
    unknown = uuid.uuid4()
    with pytest.raises(TaskNotFound, match=str(unknown)):
        update_task(unknown, progression=1)
    with pytest.raises(AsyncTask.DoesNotExist.__mro__[1]):  # ObjectDoesNotExist
        update_task(unknown)


@pytest.mark.parametrize("final", [TaskState.DONE, TaskState.ERROR])
@pytest.mark.parametrize(
    "late",
    [
        {"state": TaskState.PROCESSING},
        {"state": TaskState.PENDING},
        {"progression": 10},
        {"description": "late"},
        {"state": TaskState.DONE},
        {"state": TaskState.ERROR, "exception": ValueError("late")},
    ],
)
def test_finished_task_ignores_later_calls(
    task: AsyncTask, final: TaskState, late: dict[str, Any]
) -> None:
    update_task(task.uuid, state=TaskState.PROCESSING, progression=60)
    update_task(task.uuid, state=final)
    before = snapshot(task)
    assert update_task(task.uuid, **late) is False
    assert snapshot(task) == before


@override_settings(USE_TZ=False)
def test_aware_datetime_without_use_tz_is_stored_as_local_time(task: AsyncTask) -> None:
    aware = datetime.datetime(2026, 7, 1, 10, 0, tzinfo=datetime.timezone.utc)
    update_task(task.uuid, started_at=aware)
    assert snapshot(task)["started_at"] == timezone.make_naive(aware)


def test_database_rejects_out_of_range_values_written_around_update_task(task: AsyncTask) -> None:
    for values in ({"progression": 101}, {"time_to_live": -1}, {"state": "FINISHED"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            AsyncTask.objects.filter(pk=task.pk).update(**values)


def test_updated_at_never_goes_back_when_a_writer_clock_is_behind(task: AsyncTask) -> None:
    ahead = timezone.now() + datetime.timedelta(minutes=5)
    AsyncTask.objects.filter(pk=task.pk).update(updated_at=ahead)
    update_task(task.uuid, progression=10)
    assert snapshot(task)["updated_at"] > ahead
