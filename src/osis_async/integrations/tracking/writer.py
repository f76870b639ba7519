"""The tracking writer: one daemon thread per process (``Flusher``) making the trackers'
writes on its own database connection, kept open while jobs come.

It writes a tracker's pending values when they are due, runs the calls other threads hand it,
and gathers the final states handed over by a worker's jobs (``submit_final``): for up to
``FINAL_GATHER`` seconds, then one statement for all of them (``record_outcomes``). A process
finishes every final write handed over before it exits (``drain``).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from django.db import DataError, connections
from django.utils import timezone

from osis_async.changes import Change, announce
from osis_async.exceptions import InvalidTaskUpdate, TaskNotFound
from osis_async.integrations.tracking.cancel_watch import CancelWatch
from osis_async.integrations.tracking.retry import FINAL_WRITE_ATTEMPTS, retried
from osis_async.models.enums.task import TaskState
from osis_async.models.outcomes import Outcome, record_outcomes
from osis_async.utils import format_exception

if TYPE_CHECKING:
    from osis_async.integrations.tracking.tracker import Tracker

logger = logging.getLogger("osis_async.integrations")

#: Seconds without work after which the flusher lets go of its database connection.
IDLE_RELEASE = 5.0
#: Seconds a job's thread waits for a write made by the flusher before giving up on it.
CALL_TIMEOUT = 60.0
#: Seconds an exiting process waits for the final writes it handed to the flusher.
DRAIN_TIMEOUT = 30.0
#: Seconds the writer gathers the final states handed over before writing them together.
FINAL_GATHER = 0.25
#: The most final states written in one statement.
FINAL_BATCH = 100

Final = tuple["Tracker", dict[str, Any]]


class Due(Protocol):
    """What the writer wakes up for at a given time: a tracker, or the cancel watch."""

    @property
    def ended(self) -> bool: ...

    def flush_due(self) -> None: ...


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
        self._queue: list[tuple[float, int, Due]] = []
        self._calls: collections.deque[_Call] = collections.deque()
        self._finals: list[Final] = []
        self._finals_due = 0.0
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self.cancels = CancelWatch(self)

    def is_current_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def _ensure_thread(self) -> None:
        """(condition held)"""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="osis-async-flusher", daemon=True
            )
            self._thread.start()

    def schedule(self, due: Due, at: float) -> None:
        with self._condition:
            earliest = not self._queue or at < self._queue[0][0]
            heapq.heappush(self._queue, (at, next(self._order), due))
            self._ensure_thread()
            if earliest:  # otherwise the thread wakes up earlier anyway
                self._condition.notify()

    def _push(self, call: _Call) -> None:
        """(condition held) Queue ``call`` after every write handed over before it."""
        if self._finals:
            finals, self._finals = self._finals, []
            self._calls.append(_Call(lambda: write_finals(finals)))
        self._calls.append(call)
        self._ensure_thread()
        self._condition.notify()

    def submit_final(self, tracker: Tracker, values: dict[str, Any]) -> None:
        """Write ``values``, the final state of ``tracker``'s run, with the others gathered
        within ``FINAL_GATHER`` seconds; without waiting for it."""
        with self._condition:
            if not self._finals:
                self._finals_due = time.monotonic() + FINAL_GATHER
            self._finals.append((tracker, values))
            self._ensure_thread()
            if len(self._finals) == 1 or len(self._finals) >= FINAL_BATCH:
                self._condition.notify()

    def call(self, function: Callable[[], Any], timeout: float = CALL_TIMEOUT) -> Any:
        """Run ``function`` in the flusher thread; wait for it and return its result."""
        if self.is_current_thread():
            return function()
        call = _Call(function)
        with self._condition:
            self._push(call)
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
            self._push(_Call(logged))

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> bool:
        """Wait until the calls handed over so far are done; False if ``timeout`` ran out."""
        if self._thread is None or self.is_current_thread():
            return True  # nothing was ever handed over, or this is the flusher itself
        if not self._thread.is_alive():
            return (
                not self._calls and not self._finals
            )  # nothing left to run them (and no new thread at exit)
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

    def _next_work(self, connected: bool) -> _Call | Due | list[Final] | None:
        """The next thing to do, waiting for it; None: idle long enough to let go of the
        connection."""
        with self._condition:
            while True:
                now = time.monotonic()
                if self._calls:
                    return self._calls.popleft()
                if self._finals and (now >= self._finals_due or len(self._finals) >= FINAL_BATCH):
                    finals, self._finals = self._finals[:FINAL_BATCH], self._finals[FINAL_BATCH:]
                    self._finals_due = now
                    return finals
                while self._queue and self._queue[0][2].ended:
                    heapq.heappop(self._queue)  # its run ended: no need to wake up for it
                if self._queue and self._queue[0][0] <= now:
                    return heapq.heappop(self._queue)[2]
                deadlines = [self._queue[0][0]] if self._queue else []
                if self._finals:
                    deadlines.append(self._finals_due)
                if deadlines:
                    timeout: float | None = max(0.0, min(deadlines) - now)
                else:
                    timeout = IDLE_RELEASE if connected else None
                woken = self._condition.wait(timeout)
                idle = not self._calls and not self._queue and not self._finals
                if not woken and connected and idle:
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
            if isinstance(work, list):
                write_finals(work)
                continue
            try:
                work.flush_due()
            except Exception:  # never let the thread die: the next jobs need it
                logger.exception("The progress flusher failed on %r.", work)


def write_finals(finals: list[Final]) -> None:
    """(in the writer thread) One statement for the final states of ``finals``; should it be
    refused, each is written on its own, with the fallbacks of ``Tracker``."""
    try:
        outcomes = [_outcome(tracker, values) for tracker, values in finals]
        done, written = retried(
            lambda: record_outcomes(outcomes, timezone.now()),
            attempts=FINAL_WRITE_ATTEMPTS,
            what=f"the final states of {len(finals)} task(s)",
        )
    except (InvalidTaskUpdate, DataError, TaskNotFound, ValueError):
        done, written = False, None
    if not done or written is None:
        for tracker, values in finals:
            try:
                tracker.write_final(values)
            except Exception:
                logger.exception("The final write of %r failed.", tracker)
        return
    if written:
        announce(Change(tasks=frozenset(str(uuid) for uuid in written)))
    for tracker, _ in finals:
        if tracker.uuid in written:
            tracker.writes += 1
        else:
            logger.info("Task %s is already finished or gone; tracking stops.", tracker.uuid)


def _outcome(tracker: Tracker, values: dict[str, Any]) -> Outcome:
    exception = values.get("exception")
    return Outcome(
        uuid=tracker.uuid,
        state=TaskState(values["state"]),
        started_at=values.get("started_at"),
        progression=values.get("progression"),
        description=values.get("description"),
        traceback=None if exception is None else format_exception(exception),
        error_message=values.get("error_message"),
    )


_FLUSHER: Flusher | None = None
_FLUSHER_LOCK = threading.Lock()


def flusher() -> Flusher:
    """This process's tracking writer."""
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


def _release_connections() -> None:
    """(in the flusher thread) Idle: its connections follow CONN_MAX_AGE, as a request's do."""
    for connection in connections.all(initialized_only=True):
        with contextlib.suppress(Exception):
            connection.close_if_unusable_or_obsolete()


def close_connections() -> None:
    """Close the tracking writer's database connections now (before dropping a database, at
    the end of a test session); the runs it watched for cancels are no longer looked up."""
    flusher = _FLUSHER
    if flusher is None or flusher._thread is None or not flusher._thread.is_alive():
        return

    def close() -> None:
        flusher.cancels.forget()
        for connection in connections.all(initialized_only=True):
            with contextlib.suppress(Exception):
                connection.close()

    flusher.call(close)
