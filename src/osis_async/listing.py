"""The list endpoint's queries: one person's page of tasks with both counts and the page's
validator in one statement, and the validator alone for a conditional poll.

Every open widget runs it every few seconds, so it is written once as SQL rather than compiled
by the ORM on each request (which costs more than running it). On PostgreSQL the page is a
PL/pgSQL function (migrations 0004 and 0005) that writes the page's JSON itself: its plan is
made once per database session, and no row goes through Python. ``tests/test_listing.py`` holds
both forms to the ORM's answer.

Both keep a page's size bounded (descriptions longer than ``OSIS_ASYNC_MAX_DESCRIPTION_LENGTH``,
which only rows written around ``update_task`` can hold, are cut with "…"), and on PostgreSQL
wait at most ``OSIS_ASYNC_DB_TIMEOUT`` for a lock on the table (``osis_async.busy``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from osis_async import __version__
from osis_async.busy import timeout_ms
from osis_async.conf import get_settings
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
    longest = get_settings().MAX_DESCRIPTION_LENGTH
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _page_function_sql(), [person_id, limit, offset, longest, f"{timeout_ms()}ms"]
            )
            total, pending, latest, results = cursor.fetchone()
        return results, {"count": total, "pending_count": pending}, (total, latest)
    running = [state.value for state in TaskState.running()]
    with connection.cursor() as cursor:
        cursor.execute(
            _page_sql(), [longest, longest, *running, person_id, person_id, limit, offset]
        )
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
    person_id = _person_id(person, connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_version_function_sql(), [person_id, f"{timeout_ms()}ms"])
        else:
            cursor.execute(_version_sql(), [person_id])
        count, latest = cursor.fetchone()
    return count, latest


def person_versions(person_ids: Collection[str], using: str = "default") -> dict[str, Version]:
    """The versions of the lists of many persons (ids as text): what the streams compare. A
    person without tasks is ``(0, None)``, as ``person_version`` says. One query on PostgreSQL
    (an array of ids), one per thousand persons elsewhere."""
    connection = connections[using]
    field = _field("person")
    keys = {field.get_db_prep_value(field.to_python(key), connection): key for key in person_ids}
    found: dict[str, Version] = {}
    with connection.cursor() as cursor:
        for sql, params in _versions_queries(list(keys), connection.vendor):
            cursor.execute(sql, params)
            for person_id, count, latest in cursor.fetchall():
                found[keys.get(person_id, str(person_id))] = (count, latest)
    return {key: found.get(key, (0, None)) for key in person_ids}


def _versions_queries(ids: list[Any], vendor: str) -> Iterator[tuple[str, list[Any]]]:
    if not ids:
        return
    if vendor == "postgresql":
        yield _versions_sql().format(condition="= ANY(%s)"), [ids]
        return
    for start in range(0, len(ids), VERSIONS_CHUNK):
        chunk = ids[start : start + VERSIONS_CHUNK]
        yield _versions_sql().format(condition=f"IN ({', '.join(['%s'] * len(chunk))})"), chunk


def version_token(version: Version) -> str:
    """A version as the stream hands it to the widget, which only compares it."""
    count, latest = version
    return f"{count}:{latest}"


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


#: Persons whose versions one query reads outside PostgreSQL (SQLite allows 32,766 parameters).
VERSIONS_CHUNK = 1000


@cache
def _page_function_sql() -> str:
    running = ",".join(state.value for state in TaskState.running())
    return f"SELECT * FROM osis_async_person_page(%s, '{{{running}}}', %s, %s, %s, %s)"


@cache
def _version_function_sql() -> str:
    return "SELECT * FROM osis_async_person_version(%s, %s)"


@cache
def _versions_sql() -> str:
    """The versions of the persons matching ``{condition}``, the same figures as
    ``_version_sql``."""
    updated_at, person = _quoted("updated_at", "person")
    return (
        f'SELECT {person}, COUNT(*), MAX({updated_at}) FROM "{AsyncTask._meta.db_table}" '
        f"WHERE {person} {{condition}} GROUP BY {person}"
    )


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
    state, created_at, updated_at, person, pk, description = _quoted(
        "state", "created_at", "updated_at", "person", "pk", "description"
    )
    # Descriptions cut to the longest the list returns, as osis_async_person_page does.
    shown = [
        f"CASE WHEN length(page.{column}) > %s THEN substr(page.{column}, 1, %s - 1) || '…' "
        f"ELSE page.{column} END"
        if column == description
        else f"page.{column}"
        for column in columns
    ]
    # The counts come from the (person, state, updated_at) index alone; only the page's rows
    # are read from the table.
    return (
        f"SELECT {', '.join(shown)}, "
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
