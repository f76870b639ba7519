"""Stopping a task its person no longer wants: ``cancel_task`` and what a job asks of it.

A ``PENDING`` task becomes ``CANCELLED`` at once, and its job never runs its body: a Celery job
is revoked, and every tracked job checks its row when it starts (``cancelled_before_start``). A
``PROCESSING`` task is told: ``cancel_requested_at`` is set, the tracked job's next
``progress(self).report(...)`` raises ``TaskCancelled``, and its tracking ends it
``CANCELLED``. A Celery task tracked with ``cancel="terminate"`` is also revoked with
``terminate=True``: the worker ends the process that runs it. A job that never reports again
is ended by the TTL sweep, as any other.
"""

from __future__ import annotations

import logging
import uuid as uuid_module
from collections.abc import Callable, Iterable
from functools import partial

from django.db import router, transaction
from django.utils import timezone

from osis_async.changes import Change, announce
from osis_async.exceptions import TaskNotFound
from osis_async.models.enums.task import Runner, TaskState
from osis_async.models.task import AsyncTask, AsyncTaskQuerySet
from osis_async.validation import clean_uuid

__all__ = [
    "CELERY",
    "CELERY_TERMINATE",
    "DJANGO_TASKS",
    "cancel_task",
    "cancel_tasks",
    "cancelled_before_start",
    "is_cancel_requested",
    "register_revoker",
]

logger = logging.getLogger(__name__)

CELERY = Runner.CELERY
CELERY_TERMINATE = Runner.CELERY_TERMINATE
DJANGO_TASKS = Runner.DJANGO_TASKS

#: ``revoke(uuids, terminate)`` for the runners that have one (the Celery integration's).
Revoker = Callable[[list[str], bool], None]
_REVOKERS: dict[str, Revoker] = {}


def register_revoker(runner: str, revoke: Revoker) -> None:
    """Have ``revoke`` called for the cancelled tasks ``runner`` runs (after the commit)."""
    _REVOKERS[runner] = revoke


def cancel_task(uuid: uuid_module.UUID | str) -> bool:
    """Ask to stop task ``uuid``: ``PENDING`` becomes ``CANCELLED`` now; a ``PROCESSING`` task's
    job is told at its next report. True if asked; False if the task is finished already (a
    finished task stays as it is). ``TaskNotFound`` for an unknown uuid, ``InvalidTaskUpdate``
    for one that is not a uuid."""
    task_uuid = clean_uuid(uuid)
    if cancel_tasks(AsyncTask.objects.filter(uuid=task_uuid)):
        return True
    if not AsyncTask.objects.filter(uuid=task_uuid).exists():
        raise TaskNotFound(f"No task has uuid {task_uuid}.")
    return False


def cancel_tasks(tasks: AsyncTaskQuerySet) -> int:
    """``cancel_task`` for each task of ``tasks`` not finished yet; returns how many were."""
    alias = router.db_for_write(AsyncTask)
    with transaction.atomic(using=alias):
        asked = list(tasks.unfinished().select_for_update().values_list("uuid", "runner", "state"))
        if not asked:
            return 0
        count = AsyncTask.objects.filter(uuid__in=[row[0] for row in asked]).request_cancel(
            timezone.now()
        )
        announce(Change(tasks=frozenset(str(row[0]) for row in asked)))
        transaction.on_commit(partial(_revoke, asked), using=alias, robust=True)
    return count


def _revoke(asked: Iterable[tuple[uuid_module.UUID, str, str]]) -> None:
    """Tell the runners: a pending job is revoked; a running one only when it opted in."""
    by_call: dict[tuple[str, bool], list[str]] = {}
    for uuid, runner, state in asked:
        # A job that opted in is terminated whatever its row said: it may have started before
        # its PROCESSING was written (terminating a job not started yet only revokes it).
        terminate = runner == CELERY_TERMINATE
        if state == TaskState.PROCESSING and not terminate:
            continue  # told at its next report
        by_call.setdefault((runner, terminate), []).append(str(uuid))
    for (runner, terminate), uuids in by_call.items():
        revoke = _REVOKERS.get(runner)
        if revoke is None:
            continue
        try:
            revoke(uuids, terminate)
        except Exception:
            logger.error(
                "Could not revoke the jobs of %d cancelled task(s) (%s): a worker that received "
                "one while it ran may still run it; a worker started since checks the row.",
                len(uuids),
                ", ".join(uuids),
                exc_info=True,
            )


def is_cancel_requested(uuid: uuid_module.UUID | str) -> bool:
    """Whether the person asked to stop task ``uuid`` (a worker that writes with
    ``update_task`` asks between steps). ``TaskNotFound`` for an unknown uuid."""
    task_uuid = clean_uuid(uuid)
    row = (
        AsyncTask.objects.filter(uuid=task_uuid).values_list("state", "cancel_requested_at").first()
    )
    if row is None:
        raise TaskNotFound(f"No task has uuid {task_uuid}.")
    state, asked_at = row
    return state == TaskState.CANCELLED or asked_at is not None


def cancelled_before_start(uuid: uuid_module.UUID | str) -> bool:
    """(a tracked job about to start) True if its person cancelled it: its body must not run.
    The row is then ``CANCELLED`` (a job requeued after a cancel was asked is ended here)."""
    tasks = AsyncTask.objects.filter(uuid=uuid)
    if not tasks.cancel_requested().exists():
        return False
    if tasks.cancel(timezone.now()):
        announce(Change.of_task(uuid))
    logger.info("Task %s was cancelled before its job started; the job does not run.", uuid)
    return True
