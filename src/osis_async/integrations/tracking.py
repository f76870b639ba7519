"""What the Celery and django.tasks integrations share: the tracked task's description
(``TaskSpec``), creating its row and sending the job once that row is committed (``enqueue``),
and the row's lifecycle as the job runs (``Tracker``).

Every write made while a job runs goes through ``Tracker`` and is made by one background
thread per process (the "flusher"), on its own database connection, kept open while jobs come.
The start (``PROCESSING``) and the progress are written ``START_DELAY`` after the start and then
at most once per ``OSIS_ASYNC_PROGRESS_INTERVAL``: the job never waits for them, and a job
shorter than ``START_DELAY`` costs a single write, its final one (``DONE`` or ``ERROR``, with
``started_at``). In a worker (``wait_final=False``) the job does not wait for that one either:
the flusher makes it while the worker takes the next job, and the process finishes every final
write handed over before it exits (``drain``). Elsewhere (an eager run, the immediate backend)
the caller waits, so the row is final when the job returns. A failing write (the database
restarting, a dropped connection) is logged, never raised into the job, and what it carried is
written again: by the flusher after the interval, or by the final write. Final writes are
retried a few times.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import heapq
import itertools
import logging
import math
import os
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.apps import apps
from django.db import DataError, connections, router, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from osis_async.changes import Change, announce
from osis_async.conf import get_settings
from osis_async.exceptions import InvalidTaskUpdate, TaskNotFound
from osis_async.integrations.progress import TaskProgress
from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.text import escape_unstorable, shorten
from osis_async.utils import update_task
from osis_async.validation import (
    NAME_MAX_LENGTH,
    clean_description,
    clean_name,
    clean_time_to_live,
    shown,
)

logger = logging.getLogger("osis_async.integrations")

#: How many times a final write (``DONE`` / ``ERROR``) is tried before giving up.
FINAL_WRITE_ATTEMPTS = 4
#: Seconds slept before the n-th retry of a final write: 0.2, 0.4, 0.8...
FINAL_WRITE_BACKOFF = 0.2
ERROR_SUMMARY_LENGTH = 200
#: Seconds after its start that a running job's ``PROCESSING`` is written (by the flusher).
START_DELAY = 0.2
#: Seconds without work after which the flusher lets go of its database connection.
IDLE_RELEASE = 5.0
#: Seconds a job's thread waits for a write made by the flusher before giving up on it.
CALL_TIMEOUT = 60.0
#: Seconds an exiting process waits for the final writes it handed to the flusher.
DRAIN_TIMEOUT = 30.0
#: What a write keeps, in turn, when the values it carries are refused (by ``update_task`` or by
#: the database): first all but the job's description, then the state change alone.
FALLBACKS = (
    frozenset({"state", "started_at", "exception", "progression"}),
    frozenset({"state", "started_at", "exception"}),
)


@dataclass(frozen=True)
class TaskSpec:
    """What the user sees of a tracked task: its name, description and time to live (minutes).

    ``name`` and ``description`` may be lazy translations: they are turned into text when the
    task is enqueued, in the language active then (the request's), and cut with "…" to what
    fits (``NAME_MAX_LENGTH``, ``OSIS_ASYNC_MAX_DESCRIPTION_LENGTH``). Plain text is checked at
    once (``InvalidTaskUpdate``): empty or too long a name, too long a description, characters
    the database cannot store.
    """

    name: Any
    description: Any = ""
    time_to_live: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.time_to_live, bool) or not isinstance(self.time_to_live, int):
            raise TypeError(
                f"time_to_live must be a whole number of minutes, got {self.time_to_live!r}."
            )
        clean_time_to_live(self.time_to_live)
        if isinstance(self.name, str):
            clean_name(self.name)
        if isinstance(self.description, str):
            clean_description(self.description)

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
        """``(name, description)`` as text, each cut to what is allowed."""
        name = shorten(str(self.name), NAME_MAX_LENGTH)
        description = shorten(str(self.description or ""), get_settings().MAX_DESCRIPTION_LENGTH)
        return name, description


#: The longest language code taken from a message (BCP 47 tags are far shorter).
LANGUAGE_MAX_LENGTH = 35


def enqueue_language() -> str | None:
    """The language active now (the request's, under ``LocaleMiddleware``), which the job is to
    run under; None when translations are deactivated."""
    language = translation.get_language()
    return language if isinstance(language, str) and language else None


def supported_language(language: object) -> str | None:
    """``language`` as one of ``LANGUAGES`` (``fr-be`` becomes ``fr`` when only ``fr`` is
    there), or None: missing, malformed, or a language this site does not offer."""
    if not isinstance(language, str) or not 0 < len(language) <= LANGUAGE_MAX_LENGTH:
        return None
    try:
        return translation.get_supported_language_variant(language)
    except LookupError:
        return None


def job_language(language: object) -> contextlib.AbstractContextManager[Any]:
    """Run a tracked job under the language recorded when it was enqueued: its own translated
    strings (``gettext``, lazy ones, ``number_format``) and the tracking's notes are then in
    the language of the person who started it. Without a usable one (a message from before
    this was recorded, a language the site does not offer) nothing changes: the worker's
    default, ``LANGUAGE_CODE``."""
    code = supported_language(language)
    return translation.override(code) if code is not None else contextlib.nullcontext()


def check_person(person: Any) -> None:
    """``InvalidTaskUpdate`` unless ``person`` is a saved ``OSIS_ASYNC_PERSON_MODEL`` instance."""
    model = apps.get_model(get_settings().PERSON_MODEL)
    if not isinstance(person, model) or person.pk is None:
        raise InvalidTaskUpdate(
            f"person {shown(person)} is not a saved {model._meta.label}: enqueue_for needs the "
            "person the task is shown to."
        )


def enqueue(
    spec: TaskSpec, person: Any, send: Callable[[uuid_module.UUID, str], object]
) -> uuid_module.UUID:
    """Create the task's row (``PENDING``) and call ``send(uuid, description)`` to queue the job.

    Inside a transaction the job is sent only once it commits (``transaction.on_commit``): a
    worker never looks for a row that is not there yet, and a rollback leaves neither row nor
    job. Outside one, it is sent at once. If sending fails the row becomes ``ERROR`` with the
    reason; the error is raised to the caller when sent at once, logged when sent on commit.
    ``InvalidTaskUpdate`` (nothing written, nothing sent) for a ``person`` that is not a saved
    instance of the person model.
    """
    check_person(person)
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
    return shorten(escape_unstorable(text), ERROR_SUMMARY_LENGTH)


def with_note(base: str, note: str) -> str:
    """``base (note)``, ``base`` cut so the whole fits in ``OSIS_ASYNC_MAX_DESCRIPTION_LENGTH``."""
    limit = get_settings().MAX_DESCRIPTION_LENGTH
    note = escape_unstorable(note)
    if not base:
        return shorten(note, limit)
    room = limit - len(note) - len(" ()")
    if room < 1:
        return shorten(note, limit)
    return f"{shorten(escape_unstorable(base), room)} ({note})"


def attempt_description(base: str, attempt: int, max_attempts: int | None) -> str:
    if max_attempts:
        note = gettext("attempt %(attempt)d of %(total)d") % {
            "attempt": attempt,
            "total": max_attempts,
        }
    else:
        note = gettext("attempt %(attempt)d") % {"attempt": attempt}
    return with_note(base, note)


def retry_description(base: str, attempt: int, error: BaseException) -> str:
    note = gettext("attempt %(attempt)d failed: %(error)s; retrying") % {
        "attempt": attempt,
        "error": error_summary(error),
    }
    return with_note(base, note)


class Tracker:
    """The lifecycle of one run of a tracked job, written to the task's row.

    ``start`` → ``PROCESSING`` (``started_at`` = now), ``succeed`` → ``DONE`` (100 %),
    ``fail`` → ``ERROR`` with the traceback, ``retry`` → back to ``PENDING`` until the next
    attempt starts. ``progress`` is the job's reporter.

    With ``background`` (the default) the start and the progress are written by the flusher
    thread; without, by the caller's thread as soon as the interval allows (tests, tools).
    With ``background`` and not ``wait_final``, ``succeed`` and ``fail`` hand the final write
    to the flusher and return at once (a worker process, which ``drain``s before it exits).
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
        self.started_at: Any = None
        self.writes = 0
        self._lock = threading.Condition(threading.Lock())
        self._pending: dict[str, Any] = {}
        self._written: dict[str, Any] = {}
        self._next_write = -math.inf
        self._scheduled_at: float | None = None
        self._writing = False
        self._active = True  # False once the row is finished or gone: nothing more is written
        self._over = False  # True once this run has ended (final write made or given up)
        self._description_changed = False

    def __repr__(self) -> str:
        return f"<Tracker {self.uuid}>"

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
            elif self.clock() >= self._next_write:
                self._write_pending()

    def flush(self) -> bool:
        """Write what is pending now, in this thread. True if nothing is left pending."""
        with self._lock:
            if not self._over and self._active and self._pending:
                self._write_pending()
            return not self._pending

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, *, attempt: int = 1, max_attempts: int | None = None) -> None:
        """The job starts (its ``attempt``-th try): ``PROCESSING``, ``started_at`` = now."""
        with self._lock:
            self.started_at = timezone.now()
            self.progress.restart()
            self._over = False
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
            else:
                self._write_pending()

    def succeed(self) -> bool:
        """The job returned: ``DONE``, 100 %, ``completed_at``, plus any pending description.

        True if written, or (``wait_final`` off) handed to the writer."""
        with self._lock:
            if not self._end():
                return False
            self._pending.pop("progression", None)  # DONE means 100
            return self._write_pending({"state": TaskState.DONE}, final=True)

    def fail(self, error: BaseException) -> bool:
        """The job raised (its last attempt): ``ERROR`` with the traceback of ``error``.

        True if written, or (``wait_final`` off) handed to the writer."""
        with self._lock:
            if not self._end():
                return False
            return self._write_pending({"state": TaskState.ERROR, "exception": error}, final=True)

    def retry(self, error: BaseException, *, attempt: int) -> bool:
        """Attempt ``attempt`` failed and the job will run again: ``PENDING`` until it does.

        Written only if the row still shows this attempt: a next attempt that already started
        (a retry with no delay, on another worker) is not sent back to ``PENDING``.
        """
        description = retry_description(self.base_description or "", attempt, error)
        with self._lock:
            if not self._end():
                return False
            started_at = self.started_at
            never_started = "state" in self._pending
            self._pending.clear()

            def write() -> bool:
                if never_started:
                    # This attempt's start was never written: the row is PENDING already.
                    return update_task(self.uuid, description=description)
                updated = AsyncTask.objects.filter(
                    uuid=self.uuid, state=TaskState.PROCESSING, started_at=started_at
                ).requeue(timezone.now(), description=clean_description(description))
                if updated:
                    announce(Change.of_task(self.uuid))
                return bool(updated)

            return self._guarded(write, final=False, what="retry")

    # --- writes ------------------------------------------------------------------------------

    def _end(self) -> bool:
        """Close this run (lock held); False if it was closed already or the row is gone."""
        if self._over or not self._active:
            self._over = True
            return False
        self._over = True
        while self._writing:  # a flusher write in flight goes first
            self._lock.wait()
        if (
            self._description_changed
            and self.progress.description is None
            and self.base_description is not None
        ):
            # The attempt note goes: the final state shows the task's own description.
            self._pending["description"] = self.base_description
        return True

    def _schedule(self, at: float) -> None:
        """Have the flusher write the pending values at ``at`` (lock held)."""
        if self._scheduled_at is not None and self._scheduled_at <= at:
            return
        self._scheduled_at = at
        _flusher().schedule(self, at)

    def flush_due(self) -> None:
        """Called by the flusher thread when this tracker's time has come."""
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
            if self._pending and self._active and not self._over:
                self._schedule(self._next_write)  # failed, or changed meanwhile: later

    def _write_pending(self, extra: dict[str, Any] | None = None, *, final: bool = False) -> bool:
        """Write the pending values (and ``extra``) in one UPDATE (lock held, released while
        the database works)."""
        while self._writing:
            self._lock.wait()
        values = {**self._pending, **(extra or {})}
        if not values or not self._active:
            return False
        if final and not self.wait_final and not _flusher().is_current_thread():
            self._pending.clear()
            _flusher().submit(lambda: self._write(values, final=True))
            return True
        self._writing = True
        self._lock.release()
        try:
            written, refused = self._write(values, final=final)
        finally:
            self._lock.acquire()
            self._writing = False
            self._lock.notify_all()
        self._next_write = self.clock() + self.interval
        for key in refused:  # never tried again: they would block every later write
            if key in self._pending and self._pending[key] == values[key]:
                del self._pending[key]
        if written:
            for key, value in values.items():
                if key in refused:
                    continue
                if key in self._pending and self._pending[key] == value:
                    del self._pending[key]
                if key in ("progression", "description"):
                    self._written[key] = value
        return written

    def _write(self, values: dict[str, Any], *, final: bool) -> tuple[bool, frozenset[str]]:
        """Write ``values``; if a value is refused, write what they carry without it (the
        ``FALLBACKS``), so one bad value never blocks a state change. Returns whether it wrote,
        and the keys left out."""
        refused: frozenset[str] = frozenset()
        nothing_left = False

        def write() -> bool:
            nonlocal refused, nothing_left
            alias = router.db_for_write(AsyncTask)
            trying = values
            fallbacks = iter(FALLBACKS)
            while True:
                try:
                    with _savepoint_if_in_transaction(alias):
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
        if (
            self.background
            and not _flusher().is_current_thread()
            and not (final and _open_outside_transactions())
        ):
            # The writes of a background tracker go through the flusher's connection: one per
            # worker process, kept open while jobs come (Celery closes the job thread's
            # connections around every task: writing there would cost a new connection per
            # job). A final write uses the job's connection when the job left it open.
            result = _flusher().call(
                lambda: self._guarded(
                    write, final=final, what=what, stop_if_unchanged=stop_if_unchanged
                )
            )
            return bool(result)
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
            except (InvalidTaskUpdate, DataError):
                # A value refused: trying it again would be refused again.
                logger.error(
                    "Could not record %s of task %s: a value was refused.",
                    what,
                    self.uuid,
                    exc_info=True,
                )
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


def _without_more(
    values: dict[str, Any], fallbacks: Iterator[frozenset[str]]
) -> dict[str, Any] | None:
    """``values`` reduced to the next of ``fallbacks`` that leaves something out, or None."""
    for keep in fallbacks:
        kept = {key: value for key, value in values.items() if key in keep}
        if len(kept) < len(values):
            return kept
    return None


class _Call:
    """A function run by the flusher thread for another thread, which waits for it."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.function()
        except BaseException as error:  # handed back to the waiting thread
            self.error = error
        finally:
            self.done.set()


class Flusher:
    """One daemon thread per process making the trackers' writes: the pending values when they
    are due, and the other writes (final ones included) on behalf of the jobs' threads.

    Its database connection stays open while jobs come and is released after
    ``IDLE_RELEASE`` seconds without work (following ``CONN_MAX_AGE`` then).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._queue: list[tuple[float, int, Tracker]] = []
        self._calls: collections.deque[_Call] = collections.deque()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def is_current_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def _ensure_thread(self) -> None:
        """(condition held)"""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="osis-async-flusher", daemon=True
            )
            self._thread.start()

    def schedule(self, tracker: Tracker, at: float) -> None:
        with self._condition:
            heapq.heappush(self._queue, (at, next(self._order), tracker))
            self._ensure_thread()
            self._condition.notify()

    def call(self, function: Callable[[], Any], timeout: float = CALL_TIMEOUT) -> Any:
        """Run ``function`` in the flusher thread; wait for it and return its result."""
        if self.is_current_thread():
            return function()
        call = _Call(function)
        with self._condition:
            self._calls.append(call)
            self._ensure_thread()
            self._condition.notify()
        if not call.done.wait(timeout):
            logger.error("The tracking writer did not answer within %s s.", timeout)
            return None
        if call.error is not None:
            raise call.error
        return call.result

    def submit(self, function: Callable[[], Any]) -> None:
        """Run ``function`` in the flusher thread, after the calls already handed over, without
        waiting for it; what it raises is logged."""

        def logged() -> Any:
            try:
                return function()
            except Exception:
                logger.exception("A tracking write handed to the writer failed.")
                return None

        with self._condition:
            self._calls.append(_Call(logged))
            self._ensure_thread()
            self._condition.notify()

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> bool:
        """Wait until the calls handed over so far are done; False if ``timeout`` ran out."""
        if self._thread is None or self.is_current_thread():
            return True  # nothing was ever handed over, or this is the flusher itself
        if not self._thread.is_alive():
            return not self._calls  # nothing left to run them (and no new thread at exit)
        # The calls run in order: once this one has, every earlier one has.
        done = threading.Event()
        self.submit(done.set)
        finished = done.wait(timeout)
        if not finished:
            logger.error(
                "Exiting with tracking writes not made after %s s; the TTL sweep will mark "
                "their tasks as failed.",
                timeout,
            )
        return finished

    def _next_work(self, connected: bool) -> _Call | Tracker | None:
        """The next thing to do, waiting for it; None: idle long enough to let go of the
        connection."""
        with self._condition:
            while True:
                if self._calls:
                    return self._calls.popleft()
                now = time.monotonic()
                if self._queue and self._queue[0][0] <= now:
                    return heapq.heappop(self._queue)[2]
                if self._queue:
                    timeout: float | None = self._queue[0][0] - now
                else:
                    timeout = IDLE_RELEASE if connected else None
                woken = self._condition.wait(timeout)
                if not woken and connected and not self._calls and not self._queue:
                    return None

    def _run(self) -> None:
        connected = False
        while True:
            work = self._next_work(connected)
            if work is None:
                _release_connections()
                connected = False
                continue
            connected = True
            if isinstance(work, _Call):
                work.run()
                continue
            try:
                work.flush_due()
            except Exception:  # never let the thread die: the next jobs need it
                logger.exception("The progress flusher failed on %r.", work)


_FLUSHER: Flusher | None = None
_FLUSHER_LOCK = threading.Lock()


def _flusher() -> Flusher:
    global _FLUSHER
    if _FLUSHER is None:
        with _FLUSHER_LOCK:
            if _FLUSHER is None:
                _FLUSHER = Flusher()
    return _FLUSHER


def _forget_flusher() -> None:
    """In a forked child (a prefork pool process), the parent's thread does not exist."""
    global _FLUSHER, _FLUSHER_LOCK
    _FLUSHER = None
    _FLUSHER_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_flusher)


def drain(timeout: float = DRAIN_TIMEOUT) -> bool:
    """Finish the final writes this process handed to its flusher (a worker exiting)."""
    flusher = _FLUSHER
    return True if flusher is None else flusher.drain(timeout)


atexit.register(drain)


def _open_outside_transactions() -> bool:
    """Whether this thread holds an open connection for the task table, in autocommit."""
    connection = connections[router.db_for_write(AsyncTask)]
    return connection.connection is not None and not connection.in_atomic_block


def _release_connections() -> None:
    """(in the flusher thread) Idle: its connections follow CONN_MAX_AGE, as a request's do."""
    for connection in connections.all(initialized_only=True):
        with contextlib.suppress(Exception):
            connection.close_if_unusable_or_obsolete()


def close_connections() -> None:
    """Close the tracking writer's database connections now (before dropping a database, at
    the end of a test session)."""
    flusher = _FLUSHER
    if flusher is None or flusher._thread is None or not flusher._thread.is_alive():
        return

    def close() -> None:
        for connection in connections.all(initialized_only=True):
            with contextlib.suppress(Exception):
                connection.close()

    flusher.call(close)


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
