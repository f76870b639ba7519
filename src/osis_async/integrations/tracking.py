"""What the Celery and django.tasks integrations share: the tracked task's description
(``TaskSpec``), creating its row and sending the job once that row is committed (``enqueue``),
and the row's lifecycle as the job runs (``Tracker``).

Every write made while a job runs goes through ``Tracker``: a failing write (the database
restarting, a dropped connection) is logged, never raised into the job, and what it carried is
written again by the next write. Final writes (``DONE``, ``ERROR``) are retried a few times.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid as uuid_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext

from osis_async.exceptions import TaskNotFound
from osis_async.integrations.progress import TaskProgress
from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.utils import update_task

logger = logging.getLogger("osis_async.integrations")

NAME_MAX_LENGTH = AsyncTask._meta.get_field("name").max_length or 100
#: How many times a final write (``DONE`` / ``ERROR``) is tried before giving up.
FINAL_WRITE_ATTEMPTS = 4
#: Seconds slept before the n-th retry of a final write: 0.2, 0.4, 0.8...
FINAL_WRITE_BACKOFF = 0.2
ERROR_SUMMARY_LENGTH = 200


@dataclass(frozen=True)
class TaskSpec:
    """What the user sees of a tracked task: its name, description and time to live (minutes).

    ``name`` and ``description`` may be lazy translations: they are turned into text when the
    task is enqueued, in the language active then (the request's).
    """

    name: Any
    description: Any = ""
    time_to_live: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.time_to_live, bool) or not isinstance(self.time_to_live, int):
            raise TypeError(
                f"time_to_live must be a whole number of minutes, got {self.time_to_live!r}."
            )
        if self.time_to_live < 0:
            raise ValueError(f"time_to_live must not be negative, got {self.time_to_live}.")
        if isinstance(self.name, str) and not self.name.strip():
            raise ValueError("name must not be empty: it is what the user sees.")
        if isinstance(self.name, str) and len(self.name) > NAME_MAX_LENGTH:
            raise ValueError(
                f"name is {len(self.name)} characters long; at most {NAME_MAX_LENGTH} fit."
            )

    def replace(
        self, *, name: Any = None, description: Any = None, time_to_live: int | None = None
    ) -> TaskSpec:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        if time_to_live is not None:
            changes["time_to_live"] = time_to_live
        return replace(self, **changes)

    def resolve(self) -> tuple[str, str]:
        """``(name, description)`` as text, the name cut to what the column holds."""
        name = str(self.name)
        if len(name) > NAME_MAX_LENGTH:
            name = name[: NAME_MAX_LENGTH - 1] + "…"
        return name, str(self.description or "")


def enqueue(
    spec: TaskSpec, person: Any, send: Callable[[uuid_module.UUID, str], object]
) -> uuid_module.UUID:
    """Create the task's row (``PENDING``) and call ``send(uuid, description)`` to queue the job.

    Inside a transaction the job is sent only once it commits (``transaction.on_commit``): a
    worker never looks for a row that is not there yet, and a rollback leaves neither row nor
    job. Outside one, it is sent at once. If sending fails the row becomes ``ERROR`` with the
    reason; the error is raised to the caller when sent at once, logged when sent on commit.
    """
    name, description = spec.resolve()
    task = AsyncTask.objects.create(
        name=name, description=description, person=person, time_to_live=spec.time_to_live
    )
    alias = task._state.db or router.db_for_write(AsyncTask)

    def dispatch() -> None:
        try:
            send(task.uuid, description)
        except Exception as error:
            logger.error("Could not queue task %s (%s): %r", task.uuid, name, error)
            with contextlib.suppress(Exception):
                update_task(task.uuid, state=TaskState.ERROR, exception=error)
            raise

    if connections[alias].in_atomic_block:
        transaction.on_commit(dispatch, using=alias, robust=True)
    else:
        dispatch()
    return task.uuid


def error_summary(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if len(text) > ERROR_SUMMARY_LENGTH:
        text = text[: ERROR_SUMMARY_LENGTH - 1] + "…"
    return text


def attempt_description(base: str, attempt: int, max_attempts: int | None) -> str:
    if max_attempts:
        note = gettext("attempt %(attempt)d of %(total)d") % {
            "attempt": attempt,
            "total": max_attempts,
        }
    else:
        note = gettext("attempt %(attempt)d") % {"attempt": attempt}
    return f"{base} ({note})" if base else note


def retry_description(base: str, attempt: int, error: BaseException) -> str:
    note = gettext("attempt %(attempt)d failed: %(error)s; retrying") % {
        "attempt": attempt,
        "error": error_summary(error),
    }
    return f"{base} ({note})" if base else note


class Tracker:
    """The lifecycle of one run of a tracked job, written to the task's row.

    ``start`` → ``PROCESSING`` (``started_at`` = now), ``succeed`` → ``DONE`` (100 %),
    ``fail`` → ``ERROR`` with the traceback, ``retry`` → back to ``PENDING`` until the next
    attempt starts. ``progress`` is the job's throttled reporter.
    """

    def __init__(self, task_uuid: uuid_module.UUID | str, *, base_description: str | None = None):
        self.uuid = (
            task_uuid if isinstance(task_uuid, uuid_module.UUID) else uuid_module.UUID(task_uuid)
        )
        self.base_description = base_description
        self.progress = TaskProgress(self)
        self.started_at: Any = None
        self._active = True
        self._description_changed = False
        #: Lifecycle fields whose write failed: carried by the next write.
        self._unwritten: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<Tracker {self.uuid}>"

    # --- the ProgressWriter side -------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._active

    def write_progress(self, values: dict[str, Any]) -> bool:
        return self._write({**self._unwritten, **values}, final=False)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, *, attempt: int = 1, max_attempts: int | None = None) -> bool:
        """The job starts (its ``attempt``-th try): ``PROCESSING``, ``started_at`` = now."""
        self.started_at = timezone.now()
        self.progress.restart()
        values: dict[str, Any] = {
            "state": TaskState.PROCESSING,
            "started_at": self.started_at,
            "progression": 0,
        }
        if attempt > 1:
            if self.base_description is not None:
                values["description"] = attempt_description(
                    self.base_description, attempt, max_attempts
                )
                self._description_changed = True
        return self._write(values, final=False)

    def succeed(self) -> bool:
        """The job returned: ``DONE``, 100 %, ``completed_at``, plus any pending description."""
        values = self._final_values()
        values.pop("progression", None)  # DONE means 100
        values["state"] = TaskState.DONE
        return self._write(values, final=True)

    def fail(self, error: BaseException) -> bool:
        """The job raised (its last attempt): ``ERROR`` with the traceback of ``error``."""
        values = self._final_values()
        values["state"] = TaskState.ERROR
        values["exception"] = error
        return self._write(values, final=True)

    def retry(self, error: BaseException, *, attempt: int) -> bool:
        """Attempt ``attempt`` failed and the job will run again: ``PENDING`` until it does.

        Written only if the row still shows this attempt: a next attempt that already started
        (a retry with no delay, on another worker) is not sent back to ``PENDING``.
        """
        if self.started_at is None:
            return False
        description = retry_description(self.base_description or "", attempt, error)
        now = timezone.now()

        def write() -> bool:
            return bool(
                AsyncTask.objects.filter(
                    uuid=self.uuid, state=TaskState.PROCESSING, started_at=self.started_at
                ).update(state=TaskState.PENDING, description=description, updated_at=now)
            )

        return self._guarded(write, final=False, what="retry")

    # --- writes ------------------------------------------------------------------------------

    def _final_values(self) -> dict[str, Any]:
        values = {**self._unwritten, **self.progress.pending_values()}
        if (
            "description" not in values
            and self._description_changed
            and self.progress.description is None
            and self.base_description is not None
        ):
            values["description"] = self.base_description
        return values

    def _write(self, values: dict[str, Any], *, final: bool) -> bool:
        if not self._active:
            return False

        def write() -> bool:
            return update_task(self.uuid, **values)

        what = str(values.get("state", "progress"))
        ok = self._guarded(write, final=final, what=what, stop_if_unchanged=True)
        if ok:
            self._unwritten.clear()
            self.progress.mark_written(values)
        elif self._active:
            self._unwritten.update(values)
        return ok

    def _guarded(
        self,
        write: Callable[[], bool],
        *,
        final: bool,
        what: str,
        stop_if_unchanged: bool = False,
    ) -> bool:
        attempts = FINAL_WRITE_ATTEMPTS if final else 1
        alias = router.db_for_write(AsyncTask)
        for attempt in range(1, attempts + 1):
            try:
                with _savepoint_if_in_transaction(alias):
                    written = write()
            except TaskNotFound:
                logger.warning("Task %s no longer exists; its tracking stops.", self.uuid)
                self._active = False
                return False
            except Exception:
                logger.warning(
                    "Could not record %s of task %s (try %d of %d); the job goes on.",
                    what,
                    self.uuid,
                    attempt,
                    attempts,
                    exc_info=True,
                )
                _drop_broken_connection(alias)
                if attempt < attempts:
                    time.sleep(FINAL_WRITE_BACKOFF * 2 ** (attempt - 1))
                continue
            if not written and stop_if_unchanged:
                # update_task wrote nothing: the task is already DONE or ERROR (the TTL sweep
                # gave up on it, say). The job goes on; nothing more is written.
                logger.info("Task %s is already finished; tracking stops.", self.uuid)
                self._active = False
            return written
        if final:
            logger.error(
                "Gave up recording %s of task %s after %d tries.", what, self.uuid, attempts
            )
        return False


@contextlib.contextmanager
def _savepoint_if_in_transaction(alias: str) -> Iterator[None]:
    """Inside the job's own transaction, a failing write must not break that transaction."""
    if connections[alias].in_atomic_block:
        with transaction.atomic(using=alias):
            yield
    else:
        yield


def _drop_broken_connection(alias: str) -> None:
    """Let the next write open a fresh connection if this one is dead (outside transactions)."""
    connection = connections[alias]
    if connection.in_atomic_block:
        return
    with contextlib.suppress(Exception):
        connection.close_if_unusable_or_obsolete()
