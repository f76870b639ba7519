"""The list's written-out SQL gives what the ORM gives."""

from __future__ import annotations

import datetime
import json
import random
from typing import Any

import pytest
from django.utils import timezone

from osis_async.listing import page_version, person_page
from osis_async.models import AsyncTask, TaskState
from osis_async.task_row import TASK_FIELDS, task_representation

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(user: Any, other_user: Any) -> None:
    rng = random.Random(7)
    base = timezone.now()
    rows = []
    for index in range(60):
        created = base - datetime.timedelta(seconds=rng.randint(0, 20))  # ties on purpose
        state = rng.choice(TaskState.values)
        rows.append(
            AsyncTask(
                name=f"t{index}",
                person=user if index % 3 else other_user,
                state=state,
                progression=rng.randint(0, 100),
                started_at=created if index % 2 or state == TaskState.PROCESSING else None,
                completed_at=created if state in TaskState.finished() else None,
            )
        )
    AsyncTask.objects.bulk_create(rows)
    for task in AsyncTask.objects.all():
        AsyncTask.objects.filter(pk=task.pk).update(
            created_at=base - datetime.timedelta(seconds=task.pk % 7)
        )


@pytest.mark.parametrize(("offset", "limit"), [(0, 15), (15, 15), (30, 100), (39, 5), (40, 5)])
def test_same_rows_and_counts_as_the_orm(user: Any, tasks: None, offset: int, limit: int) -> None:
    queryset = AsyncTask.objects.for_person(user)
    expected = [
        task_representation(row)
        for row in queryset.values_list(*TASK_FIELDS)[offset : offset + limit]
    ]
    results, counts, version = person_page(user, offset, limit)
    assert json.loads(results) == expected
    assert counts == queryset.counts()
    assert version == page_version(user, limit, offset)
    assert version[0] == counts["count"]


def test_a_person_without_tasks(user: Any, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        assert person_page(user, 0, 15) == ("[]", {"count": 0, "pending_count": 0}, (0, 0, ""))
