"""The list endpoint's query: one person's page of tasks with both counts, in one statement.

Every open widget runs it every few seconds, so it is written once as SQL rather than compiled
by the ORM on each request (which costs more than running it). ``tests/test_listing.py`` holds it
to the ORM's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.serializers import TASK_FIELDS

Row = tuple[Any, ...]
Counts = dict[str, int]


def person_page(
    person: Any, offset: int, limit: int, using: str = "default"
) -> tuple[list[Row], Counts]:
    """``TASK_FIELDS`` rows of ``person``'s tasks, newest first, with their ``count`` and
    ``pending_count``, in one statement, past the end of the list too."""
    connection = connections[using]
    person_id = AsyncTask._meta.get_field("person").get_db_prep_value(person.pk, connection)
    running = [state.value for state in TaskState.running()]
    with connection.cursor() as cursor:
        cursor.execute(_page_sql(), [*running, person_id, person_id, limit, offset])
        raw = cursor.fetchall()
    counts = {"count": raw[0][-2], "pending_count": raw[0][-1]}
    if raw[0][0] is None:
        return [], counts
    converters = _converters(connection)
    if not any(converters):
        return [row[:-2] for row in raw], counts
    rows = [
        tuple(
            _convert(value, convert, connection)
            for value, convert in zip(row[:-2], converters, strict=True)
        )
        for row in raw
    ]
    return rows, counts


@cache
def _page_sql() -> str:
    meta = AsyncTask._meta
    table = f'"{meta.db_table}"'
    columns = [f'"{meta.get_field(name).column}"' for name in TASK_FIELDS]
    state, created_at, person = (
        f'"{meta.get_field(name).column}"' for name in ("state", "created_at", "person")
    )
    pk = f'"{meta.pk.column}"'
    # The counts come from the (person, state) index alone; only the page's rows are read.
    return (
        f"SELECT {', '.join(f'page.{column}' for column in columns)}, "
        "counts.total, counts.pending "
        f"FROM (SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE {state} IN (%s, %s)) AS pending "
        f"FROM {table} WHERE {person} = %s) AS counts "
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
        column = AsyncTask._meta.get_field(name).get_col(AsyncTask._meta.db_table)
        found.append(
            connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        )
    _CONVERTERS[connection] = found
    return found


def _convert(value: Any, converters: list[Converter], connection: BaseDatabaseWrapper) -> Any:
    for convert in converters:
        value = convert(value, None, connection)
    return value
