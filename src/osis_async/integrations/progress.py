"""What a tracked job calls to report its progress: ``TaskProgress.report``.

Reporting is cheap enough for a tight loop. A report is written to the task's row only when it
changes what the user sees (a new whole percent, or a new description) and at least
``OSIS_ASYNC_PROGRESS_INTERVAL`` seconds (0.5 by default) after the previous write; anything
held back goes out with the next write, and the job's final write (``DONE`` or ``ERROR``) carries
whatever is still pending. A job that reports a million times therefore writes at most one row
update per whole percent and per interval.

Reporting never raises because of the database: a failed write is logged and retried by the next
one. It raises only for a wrong argument (a bug in the job).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Protocol

from asgiref.sync import sync_to_async

__all__ = ["TaskProgress", "current_progress", "percent_of"]


class ProgressWriter(Protocol):
    """Where a ``TaskProgress`` sends its writes: the lifecycle tracker of one task."""

    @property
    def active(self) -> bool:
        """False once the task is finished or gone: nothing more will be written."""

    def write_progress(self, values: dict[str, Any]) -> bool:
        """Write ``values`` (``progression`` and/or ``description``); True if written."""


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

    __slots__ = (
        "_writer",
        "_interval",
        "_clock",
        "_percent",
        "_written_percent",
        "_description",
        "_written_description",
        "_last_write",
    )

    def __init__(
        self,
        writer: ProgressWriter | None = None,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval is None:
            from osis_async.conf import get_settings

            interval = get_settings().PROGRESS_INTERVAL
        self._writer = writer
        self._interval = float(interval)
        self._clock = clock
        self._percent: int | None = None
        self._written_percent: int | None = None
        self._description: str | None = None
        self._written_description: str | None = None
        self._last_write = -math.inf

    def __repr__(self) -> str:
        return f"<TaskProgress percent={self._percent} tracked={self.tracked}>"

    @property
    def tracked(self) -> bool:
        """True when reports go to a task's row."""
        return self._writer is not None

    @property
    def percent(self) -> int | None:
        """The last percentage reported by the job (written or not), or None."""
        return self._percent

    @property
    def description(self) -> str | None:
        """The last description reported by the job (written or not), or None."""
        return self._description

    def report(
        self, done: float | None = None, total: float = 100, *, description: Any = None
    ) -> None:
        """Report ``done`` out of ``total`` (a percentage when ``total`` is left at 100) and,
        optionally, a new ``description``. Cheap; writes at most once per interval."""
        writer = self._writer
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
            if writer is None:
                return
            if (
                description is None
                and percent == self._percent
                and percent == self._written_percent
                and self._description == self._written_description
            ):
                return
            self._percent = percent
        elif writer is None:
            return
        if description is not None:
            self._description = str(description)
        if (
            self._percent == self._written_percent
            and self._description == self._written_description
        ) or not writer.active:
            return
        now = self._clock()
        if now - self._last_write < self._interval:
            return
        self._flush(now)

    async def areport(
        self, done: float | None = None, total: float = 100, *, description: Any = None
    ) -> None:
        """``report`` for an ``async def`` job."""
        await sync_to_async(self.report)(done, total, description=description)

    def flush(self) -> bool:
        """Write what is pending now, whatever the interval. True if nothing is left pending."""
        if self._writer is None or not self.dirty:
            return True
        return self._flush(self._clock())

    @property
    def dirty(self) -> bool:
        """True when something reported has not been written yet."""
        return (
            self._percent != self._written_percent or self._description != self._written_description
        )

    def pending_values(self) -> dict[str, Any]:
        """The fields reported but not written yet, as ``update_task`` keyword arguments."""
        values: dict[str, Any] = {}
        if self._percent is not None and self._percent != self._written_percent:
            values["progression"] = self._percent
        if self._description is not None and self._description != self._written_description:
            values["description"] = self._description
        return values

    def mark_written(self, values: dict[str, Any]) -> None:
        """Record that ``values`` reached the row (by a write made elsewhere)."""
        if "progression" in values and values["progression"] == self._percent:
            self._written_percent = self._percent
        if "description" in values and values["description"] == self._description:
            self._written_description = self._description

    def restart(self) -> None:
        """A new attempt of the job starts: at 0 %, which its start write records."""
        self._percent = self._written_percent = 0
        self._description = self._written_description = None
        self._last_write = -math.inf

    def _flush(self, now: float) -> bool:
        assert self._writer is not None
        values = self.pending_values()
        self._last_write = now
        if not values:
            return True
        if self._writer.write_progress(values):
            self.mark_written(values)
            return True
        return False


_NOT_TRACKED = TaskProgress(None, interval=0)
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
