"""The update API for code that runs a task: ``update_task``."""

from __future__ import annotations

import datetime
import logging
import traceback as tb
import uuid as uuid_module
from typing import Any

from django.conf import settings
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from osis_async.events import publish
from osis_async.exceptions import InvalidTaskUpdate, TaskNotFound
from osis_async.models.enums.task import TaskState
from osis_async.models.task import PROGRESSION_MAX, PROGRESSION_MIN, AsyncTask, touched

logger = logging.getLogger(__name__)

__all__ = ["update_task", "format_exception"]


def update_task(
    uuid: uuid_module.UUID | str,
    progression: int | None = None,
    description: str | None = None,
    state: TaskState | str | None = None,
    started_at: datetime.datetime | None = None,
    completed_at: datetime.datetime | None = None,
    exception: BaseException | None = None,
) -> bool:
    """Change the given fields of task ``uuid`` in one UPDATE statement; ``None`` means unchanged.

    Only the fields given are written, so two processes updating different fields of one task
    never undo each other. Moving to ``PROCESSING`` sets ``started_at`` if the task has none;
    moving to ``DONE`` or ``ERROR`` sets ``completed_at`` (and ``DONE`` sets progression to 100)
    unless they are given. ``exception`` stores its full formatted traceback.

    A task that is ``DONE`` or ``ERROR`` is finished: a later call writes nothing and returns
    ``False``. Returns ``True`` when the task was updated. Raises ``InvalidTaskUpdate`` for a bad
    value and ``TaskNotFound`` for an unknown uuid, in both cases without writing anything.
    """
    task_uuid = _clean_uuid(uuid)
    values: dict[str, Any] = {}
    if progression is not None:
        values["progression"] = _clean_progression(progression)
    if description is not None:
        if not isinstance(description, str):
            raise InvalidTaskUpdate(
                f"description must be a str, got {type(description).__name__} {description!r}."
            )
        values["description"] = description
    if started_at is not None:
        values["started_at"] = _clean_datetime("started_at", started_at)
    if completed_at is not None:
        values["completed_at"] = _clean_datetime("completed_at", completed_at)
    if exception is not None:
        if not isinstance(exception, BaseException):
            raise InvalidTaskUpdate(
                f"exception must be an exception instance, got {type(exception).__name__} "
                f"{exception!r}."
            )
        values["traceback"] = format_exception(exception)
    if state is not None:
        new_state = clean_state(state)
        values["state"] = new_state
        now = timezone.now()
        if new_state == TaskState.PROCESSING:
            values.setdefault("started_at", Coalesce(F("started_at"), Value(now)))
        elif new_state in TaskState.finished():
            values.setdefault("completed_at", now)
            if new_state == TaskState.DONE:
                values.setdefault("progression", PROGRESSION_MAX)
    if not values:
        return _exists_or_raise(task_uuid)
    values["updated_at"] = touched(timezone.now())
    updated = AsyncTask.objects.filter(uuid=task_uuid).unfinished().update(**values)
    if updated:
        publish.task_changed(task_uuid)
        return True
    _exists_or_raise(task_uuid)
    logger.info("Task %s is finished; update of %s ignored.", task_uuid, sorted(values))
    return False


def format_exception(exception: BaseException) -> str:
    """The traceback Python would print for ``exception``, chained causes included."""
    return "".join(tb.format_exception(type(exception), exception, exception.__traceback__))


def clean_state(state: TaskState | str) -> TaskState:
    if isinstance(state, TaskState):
        return state
    if isinstance(state, str) and state in TaskState.names:
        return TaskState[state]
    allowed = ", ".join(TaskState.names)
    raise InvalidTaskUpdate(f"state {state!r} is not one of {allowed} (or a TaskState member).")


def _clean_uuid(value: uuid_module.UUID | str) -> uuid_module.UUID:
    if isinstance(value, uuid_module.UUID):
        return value
    try:
        return uuid_module.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidTaskUpdate(
            f"uuid {value!r} is not a UUID; give a uuid.UUID or its string form."
        ) from None


def _clean_progression(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTaskUpdate(
            f"progression {value!r} is not an int; give a whole percentage from "
            f"{PROGRESSION_MIN} to {PROGRESSION_MAX}."
        )
    if not PROGRESSION_MIN <= value <= PROGRESSION_MAX:
        raise InvalidTaskUpdate(
            f"progression {value!r} is out of range; give a whole percentage from "
            f"{PROGRESSION_MIN} to {PROGRESSION_MAX}."
        )
    return value


def _clean_datetime(field: str, value: object) -> datetime.datetime:
    if not isinstance(value, datetime.datetime):
        raise InvalidTaskUpdate(
            f"{field} {value!r} is not a datetime; give a datetime.datetime such as "
            "django.utils.timezone.now()."
        )
    aware = timezone.is_aware(value)
    if settings.USE_TZ and not aware:
        raise InvalidTaskUpdate(
            f"{field} {value!r} is naive while USE_TZ is on; give an aware datetime such as "
            "django.utils.timezone.now()."
        )
    if not settings.USE_TZ and aware:
        return timezone.make_naive(value)
    return value


def _exists_or_raise(task_uuid: uuid_module.UUID) -> bool:
    if not AsyncTask.objects.filter(uuid=task_uuid).exists():
        raise TaskNotFound(f"No task has uuid {task_uuid}.")
    return False
