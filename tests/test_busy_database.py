"""The list under a busy database: a lock on the task table, an unreachable database, and rows
bigger than the list returns. Never a request held for ever, never a 500, never an unbounded
page."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import DatabaseError, connection
from django.test import AsyncClient, Client, override_settings

from osis_async.models import AsyncTask

URL = "/osis_async/tasks/"


@pytest.mark.django_db
@override_settings(OSIS_ASYNC_MAX_DESCRIPTION_LENGTH=50)
def test_descriptions_longer_than_the_limit_are_cut_in_the_list(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    short = make_task(person=user, description="short")
    long = make_task(person=user, description="x")
    # Rows written around the app (a plain UPDATE, an older version) can hold any length.
    AsyncTask.objects.filter(pk=long.pk).update(description="é" * 10_000)
    body = user_client.get(URL).json()
    descriptions = {item["uuid"]: item["description"] for item in body["results"]}
    assert descriptions[str(short.uuid)] == "short"
    assert descriptions[str(long.uuid)] == "é" * 49 + "…"


@pytest.mark.django_db
def test_the_list_answers_503_when_the_database_fails(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask], monkeypatch: Any
) -> None:
    make_task(person=user)
    etag = user_client.get(URL)["ETag"]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseError("canceling statement due to lock timeout")

    # The database itself cannot be made to fail on SQLite; PostgreSQL's real lock is below.
    monkeypatch.setattr("osis_async.views.person_page", refuse)
    monkeypatch.setattr("osis_async.views.page_version", refuse)
    for headers in ({}, {"HTTP_IF_NONE_MATCH": etag}):
        response = user_client.get(URL, **headers)
        assert response.status_code == 503
        assert response["Content-Type"] == "application/json"
        assert response["Retry-After"] == "10"
        assert "busy" in response.json()["detail"]


@pytest.fixture
def table_lock(transactional_db: None) -> Iterator[Callable[[], None]]:
    """``lock()`` takes an ACCESS EXCLUSIVE lock on the task table from another session,
    held until the test ends."""
    if connection.vendor != "postgresql":
        pytest.skip("LOCK TABLE is PostgreSQL's")
    params = connection.get_connection_params()
    other = psycopg.connect(
        dbname=params["dbname"],
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
    )

    def lock() -> None:
        other.execute(f'LOCK TABLE "{AsyncTask._meta.db_table}" IN ACCESS EXCLUSIVE MODE')

    try:
        yield lock
    finally:
        other.rollback()
        other.close()


@pytest.mark.postgres
@override_settings(OSIS_ASYNC_DB_TIMEOUT=0.5)
def test_a_locked_table_gets_a_503_in_time_not_a_request_held(
    table_lock: Callable[[], None], user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(person=user)
    client = Client()
    client.force_login(user)
    etag = client.get(URL)["ETag"]
    # The session and the user are read before the lock: only the task table is locked.
    table_lock()
    for headers in ({}, {"HTTP_IF_NONE_MATCH": etag}):
        started = time.monotonic()
        response = client.get(URL, **headers)
        took = time.monotonic() - started
        assert response.status_code == 503, response.content
        assert response["Retry-After"] == "10"
        assert json.loads(response.content)["detail"]
        assert 0.5 <= took < 2.0, took


@pytest.mark.postgres
@pytest.mark.django_db
@override_settings(OSIS_ASYNC_DB_TIMEOUT=0.5)
def test_the_connection_keeps_its_own_lock_timeout(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("lock_timeout is PostgreSQL's")
    make_task(person=user)
    etag = user_client.get(URL)["ETag"]
    assert user_client.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    # The test runs in a transaction, as a site with ATOMIC_REQUESTS does.
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0", "the list's lock_timeout leaked into the session"


@pytest.mark.postgres
@override_settings(OSIS_ASYNC_DB_TIMEOUT=0.5)
def test_the_progress_modal_answers_503_under_a_lock(
    table_lock: Callable[[], None], user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(person=user)
    client = Client()
    client.force_login(user)
    url = f"/osis_async/tasks/{task.uuid}/progress/"
    assert client.get(url).status_code == 200
    table_lock()
    started = time.monotonic()
    response = client.get(url)
    assert response.status_code == 503
    assert time.monotonic() - started < 2.0


@pytest.mark.postgres
@override_settings(OSIS_ASYNC_DB_TIMEOUT=0.5)
def test_a_stream_opened_under_a_lock_gets_a_503_in_time(
    table_lock: Callable[[], None], user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(person=user)

    async def run() -> Any:
        client = AsyncClient()
        await client.aforce_login(user)
        await sync_to_async(table_lock)()
        return await client.get("/osis_async/tasks/stream/")

    started = time.monotonic()
    response = async_to_sync(run)()
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert time.monotonic() - started < 3.0
