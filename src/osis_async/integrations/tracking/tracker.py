"""``Tracker``: the lifecycle of one run of a tracked job, written to its task's row.

Who writes is decided when the tracker is built: with ``background`` (a worker, an eager run)
the start and the progress are written by the process's writer thread (``writer.Flusher``),
``START_DELAY`` after the start and then at most once per ``OSIS_ASYNC_PROGRESS_INTERVAL``, so
a job shorter than ``START_DELAY`` costs its final write alone; without, by the caller's thread
as soon as the interval allows. In a worker (``wait_final=False``) the final write is handed
to the writer, which gathers those of several jobs into one statement; elsewhere the caller
waits for it. A failing write is logged, never raised into the job, and what it carried is
written again later: by the writer after the interval, or by the final write.
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DatabaseError, DataError, router
from django.utils import timezone

from osis_async.changes import Change, announce
from osis_async.conf import get_settings
from osis_async.exceptions import InvalidTaskUpdate, TaskNotFound
from osis_async.integrations.progress import TaskProgress
from osis_async.integrations.tracking.notes import attempt_description, retry_description
from osis_async.integrations.tracking.retry import (
    FINAL_WRITE_ATTEMPTS,
    retried,
    savepoint_if_in_transaction,
)
from osis_async.integrations.tracking.writer import flusher
from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.results import failure_message
from osis_async.utils import update_task
from osis_async.validation import clean_description

logger = logging.getLogger("osis_async.integrations")

#: Seconds after its start that a running job's ``PROCESSING`` is written (by the writer).
START_DELAY = 0.2
#: What a write keeps, in turn, when the values it carries are refused (by ``update_task`` or by
#: the database): first all but the job's description, then the state change alone.
FALLBACKS = (
    frozenset({"state", "started_at", "exception", "error_message", "progression"}),
    frozenset({"state", "started_at", "exception", "error_message"}),
)


class Tracker:
    """The lifecycle of one run of a tracked job, written to the task's row.

    ``start`` → ``PROCESSING`` (``started_at`` = now), ``succeed`` → ``DONE`` (100 %),
    ``fail`` → ``ERROR`` with the traceback, ``cancel`` → ``CANCELLED`` (the job raised
    ``TaskCancelled``), ``retry`` → back to ``PENDING`` until the next attempt starts.
    ``progress`` is the job's reporter; ``cancel_requested`` turns true once the person asked
    to stop the task (``cancel_watch``).

    One thread makes every write of a tracker, chosen here once: with ``background`` (the
    default) the process's writer thread, the start and the progress when they are due;
    without, the caller's thread, as soon as the interval allows (tests, tools). With
    ``background`` and not ``wait_final``, ``succeed`` and ``fail`` hand the final write to the
    writer and return at once (a worker process, which ``drain``s before it exits); otherwise
    they return once it is made. The lock guards the values handed over, never a write.
    """

    def __init__(
        self,
        task_uuid: uuid_module.UUID | str,
        *,
        base_description: str | None = None,
        background: bool = True,
        wait_final: bool = True,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uuid = (
            task_uuid if isinstance(task_uuid, uuid_module.UUID) else uuid_module.UUID(task_uuid)
        )
        if interval is None:
            interval = get_settings().PROGRESS_INTERVAL
        self.base_description = base_description
        self.background = background
        self.wait_final = wait_final or not background
        self.interval = float(interval)
        self.clock = clock
        self.progress = TaskProgress(self)
        self.started_at: datetime.datetime | None = None
        self.writes = 0
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._written: dict[str, Any] = {}
        self._next_write = -math.inf
        self._scheduled_at: float | None = None
        self._start_written = False
        self._active = True  # False once the row is finished or gone: nothing more is written
        self._over = False  # True once this run has ended (final write made or handed over)
        self._description_changed = False
        self._cancel_requested = False
        self.cancel_seen = False

    def __repr__(self) -> str:
        return f"<Tracker {self.uuid}>"

    @property
    def cancel_requested(self) -> bool:
        """True once the person asked to stop this run's task (set by the writer's cancel
        watch): the job's next report raises ``TaskCancelled``."""
        return self._cancel_requested

    @cancel_requested.setter
    def cancel_requested(self, value: bool) -> None:
        self._cancel_requested = value
        if value:
            self.progress.tell_cancel()

    @property
    def ended(self) -> bool:
        """Whether nothing more is to be written for this run but its final state."""
        return self._over or not self._active

    # --- what the job's progress hands over ----------------------------------------------------

    def note(self, values: dict[str, Any]) -> None:
        """Progress changed (``progression`` / ``description``): write it when the interval
        allows."""
        with self._lock:
            if self._over or not self._active:
                return
            for key, value in values.items():
                if key in self._written and self._written[key] == value:
                    self._pending.pop(key, None)
                else:
                    self._pending[key] = value
            if not self._pending:
                return
            if self.background:
                self._schedule(self._next_write)
                return
            due = self.clock() >= self._next_write
        if due:
            self._write_pending()

    def flush(self) -> bool:
        """Write what is pending now, whatever the interval. True if nothing is left pending."""
        self._in_writer(self._write_pending)
        with self._lock:
            return not self._pending

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, *, attempt: int = 1, max_attempts: int | None = None) -> None:
        """The job starts (its ``attempt``-th try): ``PROCESSING``, ``started_at`` = now."""
        with self._lock:
            self.started_at = timezone.now()
            self._cancel_requested = self.cancel_seen = False
            self.progress.restart()
            self._over = False
            self._start_written = False
            self._scheduled_at = None  # an entry of an earlier run is dropped by the writer
            self._written = {}
            self._pending = {
                "state": TaskState.PROCESSING,
                "started_at": self.started_at,
                "progression": 0,
            }
            if attempt > 1 and self.base_description is not None:
                self._pending["description"] = attempt_description(
                    self.base_description, attempt, max_attempts
                )
                self._description_changed = True
            if self.background:
                self._next_write = self.clock() + START_DELAY
                self._schedule(self._next_write)
        flusher().cancels.watch(self, START_DELAY)
        if not self.background:
            self._write_pending()

    def succeed(self) -> bool:
        """The job returned: ``DONE``, 100 %, ``completed_at``, plus any pending description.

        True if written, or (``wait_final`` off) handed to the writer. A job that returned
        because it was told of a cancel (``progress.cancelled``) ends ``CANCELLED``."""
        if self.cancel_seen:
            return self.cancel()
        return self._finish({"state": TaskState.DONE}, drop="progression")  # DONE means 100

    def fail(self, error: BaseException) -> bool:
        """The job raised (its last attempt): ``ERROR`` with the traceback of ``error``.

        True if written, or (``wait_final`` off) handed to the writer."""
        # The reason the person reads, in the job's language (TaskFailed's, or a generic one).
        return self._finish(
            {"state": TaskState.ERROR, "exception": error, "error_message": failure_message(error)}
        )

    def cancel(self) -> bool:
        """The job stopped because its person asked (it raised ``TaskCancelled``):
        ``CANCELLED``, ``completed_at``, plus any pending progress. Written at once, whatever
        ``wait_final``: the person is waiting for it. True if written."""
        with self._lock:
            if not self._end():
                return False
            values = {**self._pending, "state": TaskState.CANCELLED}
            self._pending.clear()
        return self._in_writer(lambda: self._write(values, final=True)[0])

    def retry(self, error: BaseException, *, attempt: int) -> bool:
        """Attempt ``attempt`` failed and the job will run again: ``PENDING`` until it does.

        Written only if the row still shows this attempt: a next attempt that already started
        (a retry with no delay, on another worker) is not sent back to ``PENDING``.
        """
        description = clean_description(
            retry_description(self.base_description or "", attempt, error)
        )
        with self._lock:
            if not self._end():
                return False
            started_at = self.started_at
            self._pending.clear()

        def write() -> bool:
            if not self._start_written:
                # This attempt's start was never written: the row is PENDING already.
                return update_task(self.uuid, description=description)
            updated = AsyncTask.objects.filter(
                uuid=self.uuid, state=TaskState.PROCESSING, started_at=started_at
            ).requeue(timezone.now(), description=description)
            if updated:
                announce(Change.of_task(self.uuid))
            return bool(updated)

        return bool(self._in_writer(lambda: self._guarded(write, final=False, what="retry")))

    # --- writes ------------------------------------------------------------------------------

    def _in_writer(self, write: Callable[[], bool]) -> bool:
        """Run ``write`` in the thread that writes for this tracker, and wait for it."""
        if self.background and not flusher().is_current_thread():
            return bool(flusher().call(write))
        return write()

    def _end(self) -> bool:
        """Close this run (lock held); False if it was closed already or the row is gone."""
        if self._over or not self._active:
            self._over = True
            return False
        self._over = True
        if (
            self._description_changed
            and self.progress.description is None
            and self.base_description is not None
        ):
            # The attempt note goes: the final state shows the task's own description.
            self._pending["description"] = self.base_description
        return True

    def _finish(self, extra: dict[str, Any], drop: str | None = None) -> bool:
        with self._lock:
            if not self._end():
                return False
            if drop is not None:
                self._pending.pop(drop, None)
            values = {**self._pending, **extra}
            self._pending.clear()
        if not self.wait_final:
            flusher().submit_final(self, values)
            return True
        return self._in_writer(lambda: self._write(values, final=True)[0])

    def _schedule(self, at: float) -> None:
        """Have the writer write the pending values at ``at`` (lock held)."""
        if self._scheduled_at is not None and self._scheduled_at <= at:
            return
        self._scheduled_at = at
        flusher().schedule(self, at)

    def flush_due(self) -> None:
        """Called by the writer thread when this tracker's time has come."""
        with self._lock:
            now = self.clock()
            if self._scheduled_at is None or now < self._scheduled_at - 0.001:
                return  # an early or stale entry: the right one is in the queue
            self._scheduled_at = None
            if self._over or not self._active or not self._pending:
                return
            if now < self._next_write:
                self._schedule(self._next_write)
                return
        self._write_pending()
        with self._lock:
            if self._pending and self._active and not self._over:
                self._schedule(self._next_write)  # failed, or changed meanwhile: later

    def _write_pending(self) -> bool:
        """(in the thread that writes) The pending values in one UPDATE, then what is left."""
        with self._lock:
            values = dict(self._pending)
            if not values or not self._active or self._over:
                return False
        written, refused = self._write(values, final=False)
        with self._lock:
            self._next_write = self.clock() + self.interval
            for key in refused:  # never tried again: they would block every later write
                if key in self._pending and self._pending[key] == values[key]:
                    del self._pending[key]
            if written:
                self._start_written = self._start_written or "state" in values
                for key, value in values.items():
                    if key in refused:
                        continue
                    if key in self._pending and self._pending[key] == value:
                        del self._pending[key]
                    if key in ("progression", "description"):
                        self._written[key] = value
        return written

    def write_final(self, values: dict[str, Any]) -> bool:
        """(in the writer thread) Write a final state handed over, on its own."""
        return self._write(values, final=True)[0]

    def _write(self, values: dict[str, Any], *, final: bool) -> tuple[bool, frozenset[str]]:
        """Write ``values``; if a value is refused, write what they carry without it (the
        ``FALLBACKS``), so one bad value never blocks a state change. Returns whether it wrote,
        and the keys left out."""
        refused: frozenset[str] = frozenset()
        nothing_left = False

        def write() -> bool:
            nonlocal refused, nothing_left
            trying = values
            fallbacks = iter(FALLBACKS)
            while True:
                try:
                    with savepoint_if_in_transaction(router.db_for_write(AsyncTask)):
                        return update_task(self.uuid, **trying)
                except (InvalidTaskUpdate, DataError) as error:
                    smaller = _without_more(trying, fallbacks)
                    if smaller is None:
                        raise
                    refused = frozenset(values) - frozenset(smaller)
                    logger.warning(
                        "Task %s refused %s (%s); writing %s without them.",
                        self.uuid,
                        ", ".join(sorted(refused)),
                        error,
                        ", ".join(sorted(smaller)) or "nothing",
                    )
                    if not smaller:
                        nothing_left = True
                        return True
                    trying = smaller

        what = str(values.get("state", "progress"))
        written = self._guarded(write, final=final, what=what, stop_if_unchanged=True)
        if written and not nothing_left:
            self.writes += 1
        return written, refused

    def _guarded(
        self,
        write: Callable[[], bool],
        *,
        final: bool,
        what: str,
        stop_if_unchanged: bool = False,
    ) -> bool:
        attempts = FINAL_WRITE_ATTEMPTS if final else 1
        try:
            done, written = retried(write, attempts=attempts, what=f"{what} of task {self.uuid}")
        except TaskNotFound:
            logger.warning("Task %s no longer exists; its tracking stops.", self.uuid)
            self._active = False
            return False
        except (InvalidTaskUpdate, DataError):
            # A value refused: trying it again would be refused again.
            logger.error(
                "Could not record %s of task %s: a value was refused.",
                what,
                self.uuid,
                exc_info=True,
            )
            return False
        if not done:
            if final:
                logger.error(
                    "Gave up recording %s of task %s after %d tries.", what, self.uuid, attempts
                )
            return False
        if not written and stop_if_unchanged:
            # update_task wrote nothing: the task is finished already (the TTL sweep
            # gave up on it, say). The job goes on; nothing more is written.
            logger.info("Task %s is already finished; tracking stops.", self.uuid)
            self._active = False
            self._told_if_cancelled()
        return bool(written)

    def _told_if_cancelled(self) -> None:
        """The row finished under the job: if its person cancelled it (while the start was not
        written yet, say), the job stops at its next report."""
        try:
            cancelled = AsyncTask.objects.filter(uuid=self.uuid).cancel_requested().exists()
        except DatabaseError:
            logger.warning("Could not look up the cancel of task %s.", self.uuid, exc_info=True)
            return
        if cancelled:
            self.cancel_requested = True


def _without_more(
    values: dict[str, Any], fallbacks: Iterator[frozenset[str]]
) -> dict[str, Any] | None:
    """``values`` reduced to the next of ``fallbacks`` that leaves something out, or None."""
    for keep in fallbacks:
        kept = {key: value for key, value in values.items() if key in keep}
        if len(kept) < len(values):
            return kept
    return None
