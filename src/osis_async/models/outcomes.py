"""The final states of many tasks written in one statement: what a worker's tracking writer
sends for the jobs that ended while it gathered them (``record_outcomes``).

On PostgreSQL it is one ``UPDATE ... FROM (VALUES ...)``, its text built once per batch size
from the model's table and column names; elsewhere, one ``succeed``/``fail`` per task. Either
way a finished task is left alone, and the values follow ``osis_async.validation``.
"""

from __future__ import annotations

import datetime
import functools
import uuid as uuid_module
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, router

from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.results import clean_error_message
from osis_async.validation import PROGRESSION_MAX, clean_description, clean_progression

#: The columns each outcome gives, in the order of its VALUES row, with their SQL types.
_COLUMNS = (
    ("uuid", "uuid"),
    ("state", "varchar"),
    ("started_at", "timestamptz"),
    ("progression", "integer"),
    ("description", "text"),
    ("traceback", "text"),
    ("error_message", "text"),
)


@dataclass(frozen=True)
class Outcome:
    """How one run ended: ``DONE``, ``ERROR`` or ``CANCELLED``; None leaves a value as the row
    has it."""

    uuid: uuid_module.UUID
    state: TaskState
    started_at: datetime.datetime | None = None
    progression: int | None = None
    description: str | None = None
    traceback: str | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        if self.state not in TaskState.finished():
            raise ValueError(f"An outcome is DONE, ERROR or CANCELLED, not {self.state}.")
        if self.progression is not None:
            clean_progression(self.progression)
        if self.description is not None:
            clean_description(self.description)
        if self.error_message is not None:
            clean_error_message(self.error_message)


def record_outcomes(outcomes: Sequence[Outcome], now: datetime.datetime) -> set[uuid_module.UUID]:
    """Write ``outcomes``; return the uuids of the tasks written (the others were finished
    already, or are gone)."""
    if not outcomes:
        return set()
    alias = router.db_for_write(AsyncTask)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return {outcome.uuid for outcome in outcomes if _one(outcome, now)}
    params: list[Any] = [now, now, now]  # completed_at twice, updated_at
    for outcome in outcomes:
        params.extend(
            (
                outcome.uuid,
                outcome.state.value,
                outcome.started_at,
                outcome.progression,
                outcome.description,
                outcome.traceback,
                outcome.error_message,
            )
        )
    with connection.cursor() as cursor:
        cursor.execute(_statement(len(outcomes)), params)
        return {uuid_module.UUID(str(row[0])) for row in cursor.fetchall()}


def _one(outcome: Outcome, now: datetime.datetime) -> bool:
    fields: dict[str, object] = {}
    for name in ("started_at", "progression", "description", "traceback", "error_message"):
        value = getattr(outcome, name)
        if value is not None:
            fields[name] = value
    tasks = AsyncTask.objects.filter(uuid=outcome.uuid)
    change = {
        TaskState.DONE: tasks.succeed,
        TaskState.ERROR: tasks.fail,
        TaskState.CANCELLED: tasks.cancel,
    }[outcome.state]
    return bool(change(now, **fields))


@functools.lru_cache(maxsize=64)
def _statement(rows: int) -> str:
    meta = AsyncTask._meta
    connection = connections[router.db_for_write(AsyncTask)]

    def column(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, models.Field)
        return connection.ops.quote_name(str(field.column))

    row = "(" + ", ".join(f"%s::{sql_type}" for _, sql_type in _COLUMNS) + ")"
    state, started, progression = column("state"), column("started_at"), column("progression")
    description, traceback = column("description"), column("traceback")
    error_message = column("error_message")
    completed, updated, uuid = column("completed_at"), column("updated_at"), column("uuid")
    finished = ", ".join(f"'{value}'" for value in TaskState.finished())
    return (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} AS t SET "
        f"{state} = v.state, "
        f"{progression} = COALESCE(v.progression, CASE WHEN v.state = '{TaskState.DONE.value}' "
        f"THEN {PROGRESSION_MAX} ELSE t.{progression} END), "
        f"{description} = COALESCE(v.description, t.{description}), "
        f"{traceback} = COALESCE(v.traceback, t.{traceback}), "
        f"{error_message} = COALESCE(v.error_message, t.{error_message}), "
        f"{started} = COALESCE(v.started_at, t.{started}), "
        # Never before the start, even when the clock that started it was ahead.
        f"{completed} = GREATEST(%s::timestamptz, COALESCE(v.started_at, t.{started}, %s)), "
        f"{updated} = GREATEST(%s::timestamptz, t.{updated} + INTERVAL '1 microsecond') "
        f"FROM (VALUES {', '.join([row] * rows)}) "
        f"AS v({', '.join(name for name, _ in _COLUMNS)}) "
        f"WHERE t.{uuid} = v.uuid AND t.{state} NOT IN ({finished}) "
        f"RETURNING t.{uuid}"
    )
