"""Run with ``--ds=tests.settings_person``: tasks belong to a Person, not to the user."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, override_settings

from osis_async.models import AsyncTask
from tests.personapp.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def person() -> Person:
    user = get_user_model().objects.create_user("carol", password="pw")
    return Person.objects.create(user=user, global_id="00012345", first_name="Carol")


def test_foreign_key_points_at_the_configured_model() -> None:
    assert AsyncTask._meta.get_field("person").related_model is Person
    with connection.cursor() as cursor:
        relations = connection.introspection.get_relations(cursor, "osis_async_asynctask")
    assert relations["person_id"][1] == "personapp_person"


def test_list_shows_the_persons_tasks(person: Person) -> None:
    other = Person.objects.create(global_id="99")
    AsyncTask.objects.create(name="mine", person=person)
    AsyncTask.objects.create(name="other", person=other)
    client = Client()
    client.force_login(person.user)
    body = client.get("/osis_async/tasks/").json()
    assert [task["name"] for task in body["results"]] == ["mine"]


def test_user_without_person_sees_no_tasks() -> None:
    user = get_user_model().objects.create_user("nobody", password="pw")
    AsyncTask.objects.create(name="someone's", person=Person.objects.create())
    client = Client()
    client.force_login(user)
    assert client.get("/osis_async/tasks/").json() == {
        "count": 0,
        "pending_count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


def by_global_id(request: Any) -> Person | None:
    return Person.objects.filter(global_id=request.headers.get("X-Global-Id", "")).first()


@override_settings(OSIS_ASYNC_PERSON_GETTER="tests.person_model.test_person_model.by_global_id")
def test_the_person_lookup_is_configurable(person: Person) -> None:
    stranger = Person.objects.create(global_id="777")
    AsyncTask.objects.create(name="stranger's", person=stranger)
    client = Client()
    client.force_login(person.user)
    body = client.get("/osis_async/tasks/", HTTP_X_GLOBAL_ID="777").json()
    assert [task["name"] for task in body["results"]] == ["stranger's"]


def test_remote_identity_headers_come_from_the_person(person: Person) -> None:
    from django.test import RequestFactory

    from osis_async.remote import identity_headers

    request = RequestFactory().get("/")
    request.user = person.user
    headers = identity_headers(request)
    assert (headers["X-User-GlobalID"], headers["X-User-FirstName"]) == ("00012345", "Carol")
