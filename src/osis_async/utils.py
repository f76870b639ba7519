"""The update API for code that runs a task: ``update_task``."""

from __future__ import annotations

import datetime
import logging
import traceback as tb
import uuid as uuid_module
from collections.abc import Callable
from typing import Any

from django.db.models import Q
from django.utils import timezone

from osis_async.cancels import cancel_task, is_cancel_requested
from osis_async.changes import Change, announce
from osis_async.exceptions import InvalidTaskUpdate, TaskNotFound
from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask, AsyncTaskQuerySet
from osis_async.results import clean_error_message, clean_result_url, set_result
from osis_async.text import escape_unstorable
from osis_async.validation import (
    check_order,
    clean_datetime,
    clean_description,
    clean_progression,
    clean_state,
    clean_uuid,
    order_error,
    shown,
)

logger = logging.getLogger(__name__)

__all__ = ["cancel_task", "format_exception", "is_cancel_requested", "set_result", "update_task"]


def update_task(
    uuid: uuid_module.UUID | str,
    progression: int | None = None,
    description: str | None = None,
    state: TaskState | str | None = None,
    started_at: datetime.datetime | None = None,
    completed_at: datetime.datetime | None = None,
    exception: BaseException | None = None,
    *,
    result_url: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Change the given fields of task ``uuid`` in one UPDATE statement; ``None`` means unchanged.

    Only the fields given are written, so two processes updating different fields of one task
    never undo each other. Moving to ``PROCESSING`` sets ``started_at`` if the task has none;
    moving to ``DONE``, ``ERROR`` or ``CANCELLED`` sets ``completed_at`` (and ``DONE`` sets
    progression to 100) unless they are given. ``exception`` stores its full formatted traceback.

    ``result_url`` is a link the person may open once the task is done (``http``, ``https`` or a
    path on this site; ``osis_async.utils.set_result`` also takes a file). ``error_message`` is
    the short reason the person reads when it failed, apart from the traceback, which is for
    developers.

    A task that is ``DONE``, ``ERROR`` or ``CANCELLED`` is finished: a later call writes nothing
    and returns ``False``. A worker of its own asks ``is_cancel_requested(uuid)`` between steps
    and, when true, stops and writes ``state=TaskState.CANCELLED``. Returns ``True`` when the
    task was updated. Raises ``InvalidTaskUpdate`` for a bad value and ``TaskNotFound`` for an
    unknown uuid, in both cases without writing anything.
    """
    task_uuid = clean_uuid(uuid)
    values: dict[str, Any] = {}
    if progression is not None:
        values["progression"] = clean_progression(progression)
    if description is not None:
        values["description"] = clean_description(description)
    if result_url is not None:
        values["result_url"] = clean_result_url(result_url)
    if error_message is not None:
        values["error_message"] = clean_error_message(error_message)
    started = None if started_at is None else clean_datetime("started_at", started_at)
    completed = None if completed_at is None else clean_datetime("completed_at", completed_at)
    if exception is not None:
        if not isinstance(exception, BaseException):
            raise InvalidTaskUpdate(
                f"exception must be an exception instance, got {type(exception).__name__} "
                f"{shown(exception)}."
            )
        values["traceback"] = format_exception(exception)
    new_state = None if state is None else clean_state(state)
    if completed is not None and new_state not in TaskState.finished():
        raise InvalidTaskUpdate(
            f"completed_at {shown(completed)} is given without state DONE, ERROR or CANCELLED; "
            "only a "
            "finished task has one: give the state it finished in too."
        )
    check_order(started, completed)
    if started is not None:
        values["started_at"] = started
    if completed is not None:
        values["completed_at"] = completed
    # What the row must hold for the timestamps to stay in order: a condition of the UPDATE, so
    # the call stays one statement; only when it matches nothing is the row read to say why.
    in_order = Q()
    if completed is not None and started is None:
        in_order &= Q(started_at__isnull=True) | Q(started_at__lte=completed)
    if started is not None and completed is None and new_state not in TaskState.finished():
        in_order &= Q(completed_at__isnull=True) | Q(completed_at__gte=started)
    if not values and new_state is None:
        return _exists_or_raise(task_uuid)
    for _ in range(2):
        tasks = AsyncTask.objects.filter(in_order, uuid=task_uuid)
        now = timezone.now()
        updated = (
            CHANGES[new_state](tasks, now, **values)
            if new_state is not None
            else tasks.report(now, **values)
        )
        if updated:
            announce(Change.of_task(task_uuid))
            return True
        if not _refused_why(task_uuid, started, completed):
            break
        # The row changed between the UPDATE and the read (and now allows it): once more.
    logger.info("Task %s is finished; update of %s ignored.", task_uuid, sorted(values))
    return False


#: The queryset method that moves a task to each state.
CHANGES: dict[TaskState, Callable[..., int]] = {
    TaskState.PENDING: AsyncTaskQuerySet.requeue,
    TaskState.PROCESSING: AsyncTaskQuerySet.start,
    TaskState.DONE: AsyncTaskQuerySet.succeed,
    TaskState.ERROR: AsyncTaskQuerySet.fail,
    TaskState.CANCELLED: AsyncTaskQuerySet.cancel,
}


def format_exception(exception: BaseException) -> str:
    """The traceback Python would print for ``exception``, chained causes included; characters
    the database cannot store (NUL, lone surrogates) are written as their escapes (``\\x00``)."""
    text = "".join(tb.format_exception(type(exception), exception, exception.__traceback__))
    return escape_unstorable(text)


def _refused_why(
    task_uuid: uuid_module.UUID,
    started: datetime.datetime | None,
    completed: datetime.datetime | None,
) -> bool:
    """The UPDATE matched no row: raise ``TaskNotFound`` or ``InvalidTaskUpdate`` if that is
    why; False if the task is finished; True if the row allows the update now."""
    row = (
        AsyncTask.objects.filter(uuid=task_uuid)
        .values_list("state", "started_at", "completed_at")
        .first()
    )
    if row is None:
        raise TaskNotFound(f"No task has uuid {task_uuid}.")
    state, row_started, row_completed = row
    if state in TaskState.finished():
        return False
    if completed is not None and started is None and row_started and completed < row_started:
        raise order_error(row_started, completed)
    if started is not None and row_completed is not None and row_completed < started:
        raise order_error(started, row_completed)
    return True


def _exists_or_raise(task_uuid: uuid_module.UUID) -> bool:
    if not AsyncTask.objects.filter(uuid=task_uuid).exists():
        raise TaskNotFound(f"No task has uuid {task_uuid}.")
    return False
