"""Every name of the contract, written exactly as existing code writes it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.utils.timezone import now

from osis_async.models import AsyncTask as ReexportedTask
from osis_async.models import TaskState as ReexportedState
from osis_async.models.enums import TaskState as EnumsState
from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.utils import update_task

pytestmark = pytest.mark.django_db


def test_import_paths_name_the_same_objects() -> None:
    assert ReexportedTask is AsyncTask
    assert ReexportedState is TaskState is EnumsState


def test_task_state_members() -> None:
    """The seed's four states keep their names and values; CANCELLED joins them, finished."""
    assert [member.name for member in TaskState] == [
        "PENDING",
        "PROCESSING",
        "DONE",
        "ERROR",
        "CANCELLED",
    ]
    assert [member.value for member in TaskState] == [member.name for member in TaskState]
    assert TaskState.running() == (TaskState.PENDING, TaskState.PROCESSING)
    assert TaskState.finished() == (TaskState.DONE, TaskState.ERROR, TaskState.CANCELLED)


def test_seed_readme_create_and_update_word_for_word(user: Any) -> None:
    person = user
    task_uuid = AsyncTask.objects.create(
        name="My task name",
        description="My task longer description",
        person=person,  # Person for which to display the task
        time_to_live=5,  # Time-to-live in minutes
    ).uuid
    uuid_ = task_uuid

    update_task(uuid_, state=TaskState.PROCESSING, started_at=now())
    task = AsyncTask.objects.get(uuid=uuid_)
    assert (task.state, task.started_at is not None) == ("PROCESSING", True)

    update_task(uuid_, progression=50)
    assert AsyncTask.objects.get(uuid=uuid_).progression == 50

    update_task(uuid_, state=TaskState.DONE, completed_at=now())
    task = AsyncTask.objects.get(uuid=uuid_)
    assert task.state == TaskState.DONE
    assert task.completed_at is not None


def test_fields_and_defaults(user: Any) -> None:
    task = AsyncTask.objects.create(name="n", description="d", person=user)
    task.refresh_from_db()
    assert isinstance(task.uuid, uuid.UUID)
    assert task.state == "PENDING"
    assert task.progression == 0
    assert task.time_to_live == 5
    assert task.traceback == ""
    assert task.created_at is not None and task.updated_at is not None
    assert task.started_at is None and task.completed_at is None
    assert AsyncTask._meta.get_field("name").max_length == 100
    assert AsyncTask._meta.get_field("uuid").unique
    assert not AsyncTask._meta.get_field("uuid").editable
    assert AsyncTask._meta.get_field("person").null


def test_person_is_optional() -> None:
    assert AsyncTask.objects.create(name="system task").person is None


def test_database_stores_the_state_name(user: Any) -> None:
    task = AsyncTask.objects.create(name="n", person=user)
    update_task(task.uuid, state=TaskState.PROCESSING)
    with connection.cursor() as cursor:
        cursor.execute("SELECT state FROM osis_async_asynctask WHERE id = %s", [task.pk])
        assert cursor.fetchone()[0] == "PROCESSING"


def test_default_ordering_is_newest_first(user: Any) -> None:
    first = AsyncTask.objects.create(name="first", person=user)
    second = AsyncTask.objects.create(name="second", person=user)
    AsyncTask.objects.filter(pk=first.pk).update(created_at=second.created_at)
    third = AsyncTask.objects.create(name="third", person=user)
    assert list(AsyncTask.objects.values_list("name", flat=True)) == [
        third.name,
        second.name,
        first.name,
    ]


def test_queryset_methods_named_for_intent(user: Any) -> None:
    for state in TaskState:
        AsyncTask.objects.create(
            name=state.name,
            person=user,
            state=state,
            started_at=now() if state == TaskState.PROCESSING else None,
            completed_at=now() if state in TaskState.finished() else None,
        )
    names = lambda queryset: sorted(queryset.values_list("name", flat=True))  # noqa: E731
    assert names(AsyncTask.objects.pending()) == ["PENDING", "PROCESSING"]
    assert names(AsyncTask.objects.finished()) == ["CANCELLED", "DONE", "ERROR"]
    assert names(AsyncTask.objects.unfinished()) == ["PENDING", "PROCESSING"]
    assert AsyncTask.objects.for_person(user).counts() == {"count": 5, "pending_count": 2}
    assert [task.is_finished for task in AsyncTask.objects.order_by("id")] == [
        False,
        False,
        True,
        True,
        True,
    ]
