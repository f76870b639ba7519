"""The list's row: what the list endpoint shows of a task, field by field, in order, and how each
is written in its JSON.

This module owns the row. The others follow it: ``serializers.AsyncTaskSerializer`` (the OpenAPI
document), ``listing`` (the list's SQL on SQLite, through ``task_representation``), the
PostgreSQL page function's ``json_build_object`` (migration 0007: a migration is frozen, so it
spells the keys out) and the widget's ``frontend/src/types.ts``. ``tests/test_task_row.py`` holds
all of them equal to ``ROW``: a field added here and forgotten there fails it.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.utils import timezone

from osis_async.models.enums.task import TaskState

#: How a field is written: its JSON type as the widget reads it.
Kind = Literal["uuid", "text", "state", "integer", "datetime", "flag"]


@dataclass(frozen=True)
class RowField:
    name: str
    kind: Kind
    #: ``null`` in the JSON when empty.
    nullable: bool = False
    #: The model field it is read from, when not ``name``; a ``flag`` is true when that field
    #: is set and the task is not finished.
    source: str | None = None

    @property
    def model_field(self) -> str:
        return self.source or self.name


ROW: tuple[RowField, ...] = (
    RowField("uuid", "uuid"),
    RowField("name", "text"),
    RowField("description", "text"),
    RowField("state", "state"),
    RowField("progression", "integer"),
    RowField("created_at", "datetime"),
    RowField("started_at", "datetime", nullable=True),
    RowField("completed_at", "datetime", nullable=True),
    # The result to open: the URL given, or the result view's for a file (``RESULT_PATH``).
    RowField("result_url", "text", nullable=True),
    RowField("result_label", "text", nullable=True),
    RowField("error_message", "text", nullable=True),
    # The person asked to stop the task and its job has not stopped yet ("Cancelling…").
    RowField("cancel_requested", "flag", source="cancel_requested_at"),
)

#: The result view's path for the task with this uuid stands for the task's own: the list
#: replaces it (PostgreSQL's page function, SQLite's ``listing``), so a page costs no
#: ``reverse()`` per row.
RESULT_PATH_UUID = "00000000-0000-0000-0000-000000000000"

#: The keys of a list item, in order.
ROW_NAMES: tuple[str, ...] = tuple(field.name for field in ROW)
#: The model fields the list reads, in the order of ``ROW``.
TASK_FIELDS: tuple[str, ...] = tuple(field.model_field for field in ROW)
#: The states in which a task is not finished, as the list writes them.
RUNNING_STATES = frozenset(str(state.value) for state in TaskState.running())


def iso_datetime(value: datetime.datetime | None) -> str | None:
    """ISO 8601 to the microsecond with an offset: ``Z`` for the UTC the database hands out
    under ``USE_TZ``, the default time zone's offset for a naive value. PostgreSQL's
    ``osis_async_person_page`` writes the same text."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = timezone.make_aware(value)
    text = value.isoformat(timespec="microseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _as_is(value: Any) -> Any:
    return value


_WRITE: dict[Kind, Callable[[Any], Any]] = {
    "uuid": str,
    "text": _as_is,
    "state": _as_is,
    "integer": _as_is,
    "datetime": iso_datetime,
    "flag": lambda value: value is not None,
}
_WRITERS = tuple((field.name, _WRITE[field.kind]) for field in ROW)


def task_representation(row: tuple[Any, ...]) -> dict[str, Any]:
    """A ``TASK_FIELDS`` row (values in the model's types) as the list endpoint returns it."""
    item = {name: write(value) for (name, write), value in zip(_WRITERS, row, strict=True)}
    if item["cancel_requested"] and item["state"] not in RUNNING_STATES:
        item["cancel_requested"] = False
    return item


def json_text(data: Any) -> str:
    """``data`` as compact JSON text, non-ASCII characters as they are."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
