"""The list endpoint's queries: one person's page of tasks with both counts and the page's
validator in one statement, and the validator alone for a conditional poll.

Every open widget runs it every few seconds, so it is written once as SQL rather than compiled
by the ORM on each request (which costs more than running it). On PostgreSQL the page is a
PL/pgSQL function (migration 0004) that writes the page's JSON itself: its plan is made once per
database session, and no row goes through Python. ``tests/test_listing.py`` holds both forms to
the ORM's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from osis_async import __version__
from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.serializers import TASK_FIELDS, json_text, task_representation

Row = tuple[Any, ...]
Counts = dict[str, int]
#: What a person's task list looks like at a moment: their number of tasks and the latest
#: ``updated_at``. A new task, a change written through ``update_task``, the TTL sweep or the
#: admin, and a deletion all change it.
Version = tuple[int, Any]


def person_page(
    person: Any, offset: int, limit: int, using: str = "default"
) -> tuple[str, Counts, Version]:
    """One page of ``person``'s tasks, newest first, as a JSON array of
    ``task_representation`` objects, with the ``count`` and ``pending_count`` of the whole list
    and its version, in one statement, past the end of the list too.

    On PostgreSQL the database writes the JSON (``osis_async_person_page``, migration 0004),
    elsewhere Python does from the rows of ``_page_sql``.
    """
    connection = connections[using]
    person_id = _person_id(person, connection)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_page_function_sql(), [person_id, limit, offset])
            total, pending, latest, results = cursor.fetchone()
        return results, {"count": total, "pending_count": pending}, (total, latest)
    running = [state.value for state in TaskState.running()]
    with connection.cursor() as cursor:
        cursor.execute(_page_sql(), [*running, person_id, person_id, limit, offset])
        raw = cursor.fetchall()
    first = raw[0]
    counts = {"count": first[-3], "pending_count": first[-2]}
    version = (first[-3], first[-1])
    if first[0] is None:
        return "[]", counts, version
    size = len(TASK_FIELDS)
    converters = _converters(connection)
    rows = [
        tuple(
            _convert(value, convert, connection)
            for value, convert in zip(row[:size], converters, strict=True)
        )
        for row in raw
    ]
    return json_text([task_representation(row) for row in rows]), counts, version


def person_version(person: Any, using: str = "default") -> Version:
    """The version of ``person``'s list, read from an index alone."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_version_sql(), [_person_id(person, connection)])
        count, latest = cursor.fetchone()
    return count, latest


def list_etag(person: Any, version: Version, limit: int, offset: int) -> str:
    """The strong validator of one page of ``person``'s list at ``version``."""
    count, latest = version
    key = f"{__version__}:{person.pk}:{count}:{latest}:{limit}:{offset}"
    return '"' + hashlib.blake2b(key.encode(), digest_size=12).hexdigest() + '"'


def _person_id(person: Any, connection: BaseDatabaseWrapper) -> Any:
    return _field("person").get_db_prep_value(person.pk, connection)


def _field(name: str) -> Field[Any, Any]:
    field = AsyncTask._meta.pk if name == "pk" else AsyncTask._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _quoted(*names: str) -> list[str]:
    return [f'"{_field(name).column}"' for name in names]


@cache
def _page_function_sql() -> str:
    running = ",".join(state.value for state in TaskState.running())
    return f"SELECT * FROM osis_async_person_page(%s, '{{{running}}}', %s, %s)"


@cache
def _version_sql() -> str:
    updated_at, person = _quoted("updated_at", "person")
    return (
        f'SELECT COUNT(*), MAX({updated_at}) FROM "{AsyncTask._meta.db_table}" WHERE {person} = %s'
    )


@cache
def _page_sql() -> str:
    table = f'"{AsyncTask._meta.db_table}"'
    columns = _quoted(*TASK_FIELDS)
    state, created_at, updated_at, person, pk = _quoted(
        "state", "created_at", "updated_at", "person", "pk"
    )
    # The counts come from the (person, state, updated_at) index alone; only the page's rows
    # are read from the table.
    return (
        f"SELECT {', '.join(f'page.{column}' for column in columns)}, "
        "counts.total, counts.pending, counts.latest "
        f"FROM (SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE {state} IN (%s, %s)) AS pending, "
        f"MAX({updated_at}) AS latest FROM {table} WHERE {person} = %s) AS counts "
        f"LEFT JOIN (SELECT {', '.join(columns)}, {pk} FROM {table} WHERE {person} = %s "
        f"ORDER BY {created_at} DESC, {pk} DESC LIMIT %s OFFSET %s) AS page ON 1 = 1 "
        f"ORDER BY page.{created_at} DESC, page.{pk} DESC"
    )


Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


_CONVERTERS: WeakKeyDictionary[BaseDatabaseWrapper, list[list[Converter]]] = WeakKeyDictionary()


def _converters(connection: BaseDatabaseWrapper) -> list[list[Converter]]:
    """What turns the database's values into the ORM's (UUIDs and datetimes on SQLite)."""
    if connection in _CONVERTERS:
        return _CONVERTERS[connection]
    found = []
    for name in TASK_FIELDS:
        column = _field(name).get_col(AsyncTask._meta.db_table)
        found.append(
            connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        )
    _CONVERTERS[connection] = found
    return found


def _convert(value: Any, converters: list[Converter], connection: BaseDatabaseWrapper) -> Any:
    for convert in converters:
        value = convert(value, None, connection)
    return value
