"""How a running job learns that its person asked to stop it, without a query of its own: the
process's writer thread looks up, every ``CANCEL_CHECK_INTERVAL`` seconds while tracked jobs
run here, which of them were asked to stop (one query for all of them), and sets their
tracker's ``cancel_requested``. The job's next ``report`` then raises ``TaskCancelled``.

A job is first looked up ``START_DELAY`` after it starts, so short jobs cost no query.
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
CANCEL_CHECK_INTERVAL = 0.2


class CancelWatch:
    """The trackers of the jobs running in this process, looked up for cancels by the writer
    thread (``flush_due``) while there are any."""

    #: Never dropped from the writer's queue unseen: ``flush_due`` decides when to stop.
    ended = False

    def __init__(self, writer: Flusher) -> None:
        self._writer = writer
        self._lock = threading.Lock()
        self._trackers: dict[uuid_module.UUID, Tracker] = {}
        self._scheduled = False

    def watch(self, tracker: Tracker, delay: float) -> None:
        """Look up ``tracker``'s task from ``delay`` seconds on, until its run ends."""
        with self._lock:
            self._trackers[tracker.uuid] = tracker
            if self._scheduled:
                return
            self._scheduled = True
        self._writer.schedule(self, time.monotonic() + delay)

    def flush_due(self) -> None:
        """(in the writer thread) One query for the watched tasks; then the next one, if any
        are left."""
        with self._lock:
            self._trackers = {
                uuid: tracker for uuid, tracker in self._trackers.items() if not tracker.ended
            }
            watched = dict(self._trackers)
        if watched:
            try:
                asked = set(
                    AsyncTask.objects.filter(uuid__in=list(watched))
                    .cancel_requested()
                    .values_list("uuid", flat=True)
                )
            except DatabaseError:
                logger.warning("Could not look up the cancels of running tasks.", exc_info=True)
                asked = set()
            for uuid in asked:
                watched[uuid].cancel_requested = True
            with self._lock:
                for uuid in asked:
                    self._trackers.pop(uuid, None)
        with self._lock:
            if not self._trackers:
                self._scheduled = False
                return
        self._writer.schedule(self, time.monotonic() + CANCEL_CHECK_INTERVAL)
