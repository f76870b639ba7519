"""What a tracked job calls to report its progress: ``TaskProgress.report``.

Reporting is cheap enough for a tight loop: ``report`` compares the new whole percent (and
description) with the last one and returns when nothing changed. A change is handed to the
task's tracker, which writes it to the row at most once per ``OSIS_ASYNC_PROGRESS_INTERVAL``
seconds (0.5 by default), from a background thread of the worker process: the job never waits
for the database, a write that fails is logged and tried again, and a change held back by the
interval is written once the interval has passed, even if the job reports nothing more. The
job's final write (``DONE`` or ``ERROR``) carries whatever is still pending. A job that reports
a million times therefore writes at most one row update per whole percent and per interval.

``report`` raises only for a wrong argument (a bug in the job), never because of the database:
a ``done`` that is not a number, or a ``description`` that ``update_task`` would refuse
(``InvalidTaskUpdate``: longer than ``OSIS_ASYNC_MAX_DESCRIPTION_LENGTH``, or holding a character
the database cannot store). Nothing of that call is kept then.
"""

from __future__ import annotations

import math
from contextvars import ContextVar, Token
from typing import Any, Protocol

from osis_async.exceptions import TaskCancelled
from osis_async.results import check_result, set_result
from osis_async.validation import clean_description

__all__ = ["TaskProgress", "current_progress", "percent_of"]


class ProgressWriter(Protocol):
    """Where a ``TaskProgress`` sends what changed: the lifecycle tracker of one task."""

    def note(self, values: dict[str, Any]) -> None:
        """``values`` (``progression`` and/or ``description``) changed: write them in time."""

    def flush(self) -> bool:
        """Write what is pending now; True if nothing is left pending."""

    #: Set once the job was told of a cancel (``cancelled`` read true, or ``report`` raised):
    #: its run ends ``CANCELLED``.
    cancel_seen: bool


def percent_of(done: float, total: float = 100) -> int:
    """``done`` out of ``total`` as a whole percentage, rounded down, clamped to 0..100."""
    for label, value in (("done", done), ("total", total)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{label} must be a number, got {type(value).__name__} {value!r}.")
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{label} must be a number, got NaN.")
    if total <= 0:
        return 100 if done >= total else 0
    if isinstance(done, int) and isinstance(total, int):
        percent = done * 100 // total
    else:
        percent = math.floor(done * 100 / total + 1e-9)
    return max(0, min(100, percent))


class TaskProgress:
    """The progress of one tracked job, reported from inside it.

    ``report(done, total)`` gives steps done out of a total; ``report(42)`` a percentage;
    ``description=`` replaces the text under the task's name. Both in one call::

        progress.report(i, len(rows), description=f"Row {i} of {len(rows)}")

    An untracked run (the job called directly, or enqueued without ``enqueue_for``) gets a
    progress object whose ``report`` does nothing, so the job's code is the same either way.
    """

    __slots__ = ("_writer", "_percent", "_description", "_cancel_requested")

    def __init__(self, writer: ProgressWriter | None = None) -> None:
        self._writer = writer
        self._percent: int | None = None
        self._description: str | None = None
        #: Set by the tracker once the task's person asked to stop it (``tell_cancel``).
        self._cancel_requested = False

    def __repr__(self) -> str:
        return f"<TaskProgress percent={self._percent} tracked={self.tracked}>"

    @property
    def tracked(self) -> bool:
        """True when reports go to a task's row."""
        return self._writer is not None

    @property
    def cancelled(self) -> bool:
        """True once the task's person asked to stop it: a loop may check it and return, and
        the task ends ``CANCELLED`` rather than ``DONE``. Costs no query."""
        if not self._cancel_requested:
            return False
        self._writer.cancel_seen = True  # type: ignore[union-attr]
        return True

    @property
    def percent(self) -> int | None:
        """The last percentage reported (0 when the run starts), or None."""
        return self._percent

    @property
    def description(self) -> str | None:
        """The last description reported by the job in this run, or None."""
        return self._description

    def report(
        self, done: float | None = None, total: float = 100, *, description: Any = None
    ) -> None:
        """Report ``done`` out of ``total`` (a percentage when ``total`` is left at 100) and,
        optionally, a new ``description``. Never waits for the database.

        ``TaskCancelled`` once the task's person asked to stop it: let it leave the job."""
        if self._cancel_requested:
            self._writer.cancel_seen = True  # type: ignore[union-attr]
            raise TaskCancelled(getattr(self._writer, "uuid", None))
        changes: dict[str, Any] | None = None
        text: str | None = None
        if description is not None:
            text = description if type(description) is str else str(description)
            if text == self._description:
                text = None
            else:
                clean_description(text)  # before anything of this call is kept
        if done is not None:
            # The common case, whole numbers, inline: this runs in the job's tightest loop.
            if type(done) is int and type(total) is int and total > 0:
                percent = done * 100 // total
                if percent > 100:
                    percent = 100
                elif percent < 0:
                    percent = 0
            else:
                percent = percent_of(done, total)
            if percent != self._percent:
                self._percent = percent
                changes = {"progression": percent}
        if text is not None:
            self._description = text
            if changes is None:
                changes = {"description": text}
            else:
                changes["description"] = text
        if changes is not None and self._writer is not None:
            self._writer.note(changes)

    async def areport(
        self, done: float | None = None, total: float = 100, *, description: Any = None
    ) -> None:
        """``report`` for an ``async def`` job (``report`` itself does no I/O either)."""
        self.report(done, total, description=description)

    def result(
        self,
        *,
        url: str | None = None,
        file: Any = None,
        filename: str | None = None,
        label: str | None = None,
    ) -> None:
        """Attach the job's result to its task, now, in this thread (``set_result``): a ``url``
        to open, or a ``file`` (bytes, text or a file object) the person downloads as
        ``filename``. ``progress(self).result(file=pdf_bytes, filename="report.pdf")``.

        An untracked run keeps nothing (the arguments are still checked)."""
        uuid = getattr(self._writer, "uuid", None)
        if uuid is None:
            check_result(url=url, file=file, filename=filename, label=label)
            return
        set_result(uuid, url=url, file=file, filename=filename, label=label)

    def flush(self) -> bool:
        """Write what is pending now, in this thread, whatever the interval.

        True if nothing is left pending (False: the write failed and was logged).
        """
        return True if self._writer is None else self._writer.flush()

    def restart(self) -> None:
        """A new run of the job starts, at 0 %."""
        self._percent = 0
        self._description = None
        self._cancel_requested = False

    def tell_cancel(self) -> None:
        """(the tracker) The person asked to stop the task: the next ``report`` raises."""
        if self._writer is not None:
            self._cancel_requested = True


_NOT_TRACKED = TaskProgress(None)
_current: ContextVar[TaskProgress | None] = ContextVar("osis_async_progress", default=None)


def current_progress() -> TaskProgress:
    """The progress of the tracked job running here; a no-op one outside a tracked job.

    Works anywhere in the job's call stack (a helper three calls deep needs no ``self``).
    """
    return _current.get() or _NOT_TRACKED


def activate(progress: TaskProgress) -> Token[TaskProgress | None]:
    return _current.set(progress)


def deactivate(token: Token[TaskProgress | None]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # reset from another context (a pool that moved the job): just clear
        _current.set(None)
