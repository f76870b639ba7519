"""The list endpoint's queries: one person's page of tasks with both counts and the page's
validator in one statement, and the validator alone for a conditional poll.

Every open widget runs it every few seconds, so it is written once as SQL rather than compiled
by the ORM on each request (which costs more than running it). On PostgreSQL the page is a
PL/pgSQL function (migration 0007) that writes the page's JSON itself: its plan is
made once per database session, and no row goes through Python. ``tests/test_listing.py`` holds
both forms to the ORM's answer.

Both keep a page's size bounded (descriptions longer than ``OSIS_ASYNC_MAX_DESCRIPTION_LENGTH``,
which only rows written around ``update_task`` can hold, are cut with "…"), and on PostgreSQL
wait at most ``OSIS_ASYNC_DB_TIMEOUT`` for a lock on the table (``osis_async.busy``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.urls import reverse

from osis_async import __version__
from osis_async.busy import timeout_ms
from osis_async.conf import get_settings
from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.task_row import RESULT_PATH_UUID, TASK_FIELDS, json_text, task_representation

Counts = dict[str, int]
#: What one page of a person's list looks like at a moment: their number of tasks, how many are
#: running, and the page's own rows (each one's id and ``updated_at``). A new task, a deletion,
#: anything written to a row of the page (``update_task``, the sweeps, the admin, a ``save()``)
#: and a running task of another page finishing all change it, whatever the writers' clocks.
#: Reading it costs one indexed query, and ``updated_at`` needs no index: a progress tick
#: writes no index entry.
PageVersion = tuple[int, int, str]
#: The version of the list of a request with no person: empty, always.
NOBODY: PageVersion = (0, 0, "")
#: What a person's whole list looks like at a moment, as the streams compare it: their number of
#: tasks and the latest ``updated_at``.
Version = tuple[int, Any]


def person_page(
    person: Any, offset: int, limit: int, using: str = "default"
) -> tuple[str, Counts, PageVersion]:
    """One page of ``person``'s tasks, newest first, as a JSON array of
    ``task_representation`` objects, with the ``count`` and ``pending_count`` of the whole list
    and the page's version, in one statement, past the end of the list too.

    On PostgreSQL the database writes the JSON (``osis_async_person_page``, migration 0007),
    elsewhere Python does from the rows of ``_page_sql``.
    """
    if person is None:
        return "[]", {"count": 0, "pending_count": 0}, NOBODY
    connection = connections[using]
    person_id = _person_id(person, connection)
    longest = get_settings().MAX_DESCRIPTION_LENGTH
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _page_function_sql(),
                [person_id, limit, offset, longest, f"{timeout_ms()}ms", result_path()],
            )
            total, pending, signature, results = cursor.fetchone()
        return results, {"count": total, "pending_count": pending}, (total, pending, signature)
    running = [state.value for state in TaskState.running()]
    with connection.cursor() as cursor:
        cursor.execute(
            _page_sql(), [longest, longest, *running, person_id, person_id, limit, offset]
        )
        raw = cursor.fetchall()
    first = raw[0]
    total, pending = first[-2], first[-1]
    counts = {"count": total, "pending_count": pending}
    if first[0] is None:
        return "[]", counts, (total, pending, "")
    size = len(TASK_FIELDS)
    converters = _converters(connection)
    rows = [
        tuple(
            _convert(value, convert, connection)
            for value, convert in zip(row[:size], converters, strict=True)
        )
        for row in raw
    ]
    signature = _signature((row[size], row[size + 1]) for row in raw)
    path = result_path()
    results = json_text(
        [
            task_representation(_with_result(row, file, path))
            for row, file in zip(rows, (row[size + 2] for row in raw), strict=True)
        ]
    )
    return results, counts, (total, pending, signature)


#: Where ``result_url`` sits in a row of ``TASK_FIELDS``.
_RESULT_URL = TASK_FIELDS.index("result_url")


def task_item(task: AsyncTask) -> dict[str, Any]:
    """``task`` as an item of its person's list (the same keys and values, the description cut
    the same way)."""
    row = tuple(getattr(task, name) for name in TASK_FIELDS)
    item = task_representation(_with_result(row, task.result_file.name or None, result_path()))
    longest = get_settings().MAX_DESCRIPTION_LENGTH
    if len(item["description"]) > longest:
        item["description"] = item["description"][: longest - 1] + "…"
    return item


def result_path() -> str:
    """The result view's path, ``RESULT_PATH_UUID`` standing for each task's uuid."""
    return reverse("osis_async:task-result", args=[RESULT_PATH_UUID])


def _with_result(row: tuple[Any, ...], file: str | None, path: str) -> tuple[Any, ...]:
    """``row`` with its ``result_url``: the URL given, or the result view's for a file."""
    if row[_RESULT_URL] is not None or not file:
        return row
    url = path.replace(RESULT_PATH_UUID, str(row[TASK_FIELDS.index("uuid")]))
    return (*row[:_RESULT_URL], url, *row[_RESULT_URL + 1 :])


def page_version(person: Any, limit: int, offset: int, using: str = "default") -> PageVersion:
    """The version of one page of ``person``'s list, what its ETag is made of: one indexed
    query (the counts from the ``(person, state)`` index, the page's rows by the
    ``(person, created_at, id)`` one)."""
    if person is None:
        return NOBODY
    connection = connections[using]
    person_id = _person_id(person, connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_version_function_sql(), [person_id, limit, offset, f"{timeout_ms()}ms"])
            total, pending, signature = cursor.fetchone()
            return total, pending, signature
        running = [state.value for state in TaskState.running()]
        cursor.execute(_page_version_sql(), [*running, person_id, person_id, limit, offset])
        raw = cursor.fetchall()
    total, pending = raw[0][-2], raw[0][-1]
    if raw[0][0] is None:
        return total, pending, ""
    return total, pending, _signature((pk, updated_at) for pk, updated_at, *_ in raw)


def _signature(rows: Iterable[tuple[Any, Any]]) -> str:
    """The page's rows as its version has them (SQLite: ``updated_at`` as stored)."""
    return ",".join(f"{pk}:{updated_at}" for pk, updated_at in rows)


def person_versions(person_ids: Collection[str], using: str = "default") -> dict[str, Version]:
    """The versions of the lists of many persons (ids as text): what the streams compare. A
    person without tasks is ``(0, None)``. One query on PostgreSQL (an array of ids), one per
    thousand persons elsewhere."""
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


def list_etag(person: Any, version: PageVersion, limit: int, offset: int) -> str:
    """The strong validator of one page of ``person``'s list at ``version`` (``person`` may be
    ``None``: a request with nobody's tasks to show)."""
    count, pending, signature = version
    owner = "" if person is None else person.pk
    key = f"{__version__}:{owner}:{count}:{pending}:{signature}:{limit}:{offset}"
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
    return f"SELECT * FROM osis_async_person_page(%s, '{{{running}}}', %s, %s, %s, %s, %s)"


@cache
def _version_function_sql() -> str:
    running = ",".join(state.value for state in TaskState.running())
    return f"SELECT * FROM osis_async_person_version(%s, '{{{running}}}', %s, %s, %s)"


@cache
def _versions_sql() -> str:
    """The versions of the persons matching ``{condition}``."""
    updated_at, person = _quoted("updated_at", "person")
    return (
        f'SELECT {person}, COUNT(*), MAX({updated_at}) FROM "{AsyncTask._meta.db_table}" '
        f"WHERE {person} {{condition}} GROUP BY {person}"
    )


def _counts_sql() -> str:
    """Both counts of a person's list, from the ``(person, state)`` index alone."""
    state, person = _quoted("state", "person")
    return (
        f"SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE {state} IN (%s, %s)) AS pending "
        f'FROM "{AsyncTask._meta.db_table}" WHERE {person} = %s'
    )


@cache
def _page_sql() -> str:
    table = f'"{AsyncTask._meta.db_table}"'
    columns = _quoted(*TASK_FIELDS)
    created_at, updated_at, person, pk, description, result_file = _quoted(
        "created_at", "updated_at", "person", "pk", "description", "result_file"
    )
    # Descriptions cut to the longest the list returns, as osis_async_person_page does.
    shown = [
        f"CASE WHEN length(page.{column}) > %s THEN substr(page.{column}, 1, %s - 1) || '…' "
        f"ELSE page.{column} END"
        if column == description
        else f"page.{column}"
        for column in columns
    ]
    return (
        f"SELECT {', '.join(shown)}, page.{pk}, page.{updated_at}, page.{result_file}, "
        f"counts.total, counts.pending FROM ({_counts_sql()}) AS counts "
        f"LEFT JOIN (SELECT {', '.join(columns)}, {pk}, {updated_at}, {result_file} FROM {table} "
        f"WHERE {person} = %s ORDER BY {created_at} DESC, {pk} DESC LIMIT %s OFFSET %s) AS page "
        f"ON 1 = 1 ORDER BY page.{created_at} DESC, page.{pk} DESC"
    )


@cache
def _page_version_sql() -> str:
    """The page's rows (id and ``updated_at``) and both counts, as ``_page_sql`` reads them."""
    table = f'"{AsyncTask._meta.db_table}"'
    created_at, updated_at, person, pk = _quoted("created_at", "updated_at", "person", "pk")
    return (
        f"SELECT page.{pk}, page.{updated_at}, counts.total, counts.pending "
        f"FROM ({_counts_sql()}) AS counts "
        f"LEFT JOIN (SELECT {pk}, {created_at}, {updated_at} FROM {table} WHERE {person} = %s "
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
