"""A poll with nothing changed gets 304 after one query; a change the list shows moves the ETag."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.django_db
URL = "/osis_async/tasks/"


def etag(client: Client, query: str = "") -> str:
    response = client.get(URL + query)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-cache"
    return response["ETag"]


def test_unchanged_list_is_304_after_one_query(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(person=user)
    validator = etag(user_client)
    with CaptureQueriesContext(connection) as captured:
        response = user_client.get(URL, HTTP_IF_NONE_MATCH=validator)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == validator
    # The task table, or on PostgreSQL the version function reading it.
    own = [q["sql"] for q in captured.captured_queries if "osis_async_" in q["sql"]]
    assert len(own) == 1, own


def test_weak_and_listed_validators_match(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(person=user)
    validator = etag(user_client)
    assert user_client.get(URL, HTTP_IF_NONE_MATCH=f'"other", W/{validator}').status_code == 304
    assert user_client.get(URL, HTTP_IF_NONE_MATCH="*").status_code == 304
    assert user_client.get(URL, HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def changes(user: Any, task: AsyncTask) -> dict[str, Callable[[], object]]:
    def expire() -> None:
        AsyncTask.objects.filter(pk=task.pk).update(
            started_at=timezone.now() - datetime.timedelta(hours=1)
        )
        call_command("check_async_task_ttl", verbosity=0)

    return {
        "new task": lambda: AsyncTask.objects.create(name="new", person=user),
        "progress": lambda: update_task(task.uuid, progression=43),
        "description": lambda: update_task(task.uuid, description="Step 2 of 3"),
        "state": lambda: update_task(task.uuid, state=TaskState.DONE),
        "ttl sweep": expire,
        "deletion": lambda: AsyncTask.objects.filter(pk=task.pk).delete(),
    }


@pytest.mark.parametrize(
    "change", ["new task", "progress", "description", "state", "ttl sweep", "deletion"]
)
def test_every_change_the_list_shows_changes_the_validator(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask], change: str
) -> None:
    make_task(person=user, name="older")
    task = make_task(person=user)
    update_task(task.uuid, state=TaskState.PROCESSING, progression=42)
    before = etag(user_client)
    changes(user, task)[change]()
    response = user_client.get(URL, HTTP_IF_NONE_MATCH=before)
    assert response.status_code == 200
    assert response["ETag"] != before


def test_other_peoples_changes_keep_the_validator(
    user_client: Client, user: Any, other_user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(person=user)
    theirs = make_task(person=other_user)
    before = etag(user_client)
    update_task(theirs.uuid, progression=90)
    make_task(person=other_user)
    assert user_client.get(URL, HTTP_IF_NONE_MATCH=before).status_code == 304


def test_each_page_has_its_own_validator(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    for _ in range(4):
        make_task(person=user)
    validators = {etag(user_client, q) for q in ("", "?limit=2", "?limit=2&offset=2")}
    assert len(validators) == 3


def test_a_validator_is_personal(
    user: Any, other_user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    alice, bob = Client(), Client()
    alice.force_login(user)
    bob.force_login(other_user)
    validator = etag(alice)
    assert bob.get(URL, HTTP_IF_NONE_MATCH=validator).status_code == 200
