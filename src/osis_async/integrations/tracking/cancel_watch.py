"""How a running job learns that its person asked to stop it, without a query of its own: the
process's writer thread looks up, every ``CANCEL_CHECK_INTERVAL`` seconds while tracked jobs
run here, which of them were asked to stop (one query for all of them), and sets their
tracker's ``cancel_requested``. The job's next ``report`` then raises ``TaskCancelled``.

Only jobs that have run for ``delay`` seconds (``START_DELAY``, when their start is written)
are looked up, so short jobs cost no query at all.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid as uuid_module
from typing import TYPE_CHECKING

from django.db import DatabaseError

from osis_async.models.task import AsyncTask

if TYPE_CHECKING:
    from osis_async.integrations.tracking.tracker import Tracker
    from osis_async.integrations.tracking.writer import Flusher

logger = logging.getLogger("osis_async.integrations")

#: Seconds between two looks for the cancels asked of the jobs running in this process.
CANCEL_CHECK_INTERVAL = 0.1


class CancelWatch:
    """The trackers of the jobs running in this process, looked up for cancels by the writer
    thread (``flush_due``) while there are any."""

    #: Never dropped from the writer's queue unseen: ``flush_due`` decides when to stop.
    ended = False

    def __init__(self, writer: Flusher) -> None:
        self._writer = writer
        self._lock = threading.Lock()
        self._trackers: dict[uuid_module.UUID, tuple[Tracker, float]] = {}
        self._scheduled = False

    def watch(self, tracker: Tracker, delay: float) -> None:
        """Look up ``tracker``'s task from ``delay`` seconds on, until its run ends."""
        due = time.monotonic() + delay
        with self._lock:
            self._trackers[tracker.uuid] = (tracker, due)
            if self._scheduled:
                return
            self._scheduled = True
        self._writer.schedule(self, due)

    def forget(self) -> None:
        """Look up none of the runs watched so far (their database is going away)."""
        with self._lock:
            self._trackers.clear()

    def flush_due(self) -> None:
        """(in the writer thread) One query for the watched tasks that are due; then the next
        look, while any are watched, whatever happened to this one."""
        try:
            self._look()
        finally:
            with self._lock:
                self._scheduled = bool(self._trackers)
            if self._scheduled:
                self._writer.schedule(self, time.monotonic() + CANCEL_CHECK_INTERVAL)

    def _look(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._trackers = {
                uuid: entry for uuid, entry in self._trackers.items() if not entry[0].ended
            }
            watched = {
                uuid: tracker for uuid, (tracker, due) in self._trackers.items() if due <= now
            }
        if not watched:
            return
        try:
            asked = set(
                AsyncTask.objects.filter(uuid__in=list(watched))
                .cancel_requested()
                .values_list("uuid", flat=True)
            )
        except DatabaseError:
            logger.warning("Could not look up the cancels of running tasks.", exc_info=True)
            return
        for uuid in asked:
            watched[uuid].cancel_requested = True
        with self._lock:
            for uuid in asked:
                # Unless a new run of the task was watched meanwhile.
                if self._trackers.get(uuid, (None,))[0] is watched[uuid]:
                    del self._trackers[uuid]
