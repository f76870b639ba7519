"""Telling other processes that tasks changed, where the database does not tell them itself.

With PostgreSQL the table's trigger notifies every listener, so nothing is sent from here but
logouts. With Redis each change is published once its transaction commits; the streams of this
process hear of it at once either way.

Publishing never slows a write: the write only hands the change to this process's publisher
thread, which sends it to Redis with short timeouts. When Redis fails or does not answer, the
publisher stops trying for a while (``BREAK_FIRST`` seconds, doubled up to ``BREAK_MAX`` while
it keeps failing), dropping the changes meanwhile, and once Redis answers again it sends an
"anything changed", so the streams elsewhere look again at what they missed. It tries again at
the end of each pause of its own accord, not only at the next change: the last changes of a
process that writes nothing more are not left unsaid.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

from django.db import connection, transaction

from osis_async.changes import CHANNEL, Change
from osis_async.conf import get_settings
from osis_async.events import hub
from osis_async.events.sources import source_name

logger = logging.getLogger(__name__)

#: Seconds Redis has to accept a connection or answer a command.
REDIS_TIMEOUT = 0.5
#: Seconds the publisher stops trying after a failure, doubled while it keeps failing.
BREAK_FIRST = 5.0
BREAK_MAX = 60.0
#: Changes waiting for the publisher at most; past it they are merged into "anything changed".
QUEUE_LIMIT = 10_000


def on_change(sender: Any = None, change: Change | None = None, **kwargs: Any) -> None:
    """Receives every ``osis_async.changes.announce``: tells the other processes (and this
    one's streams) once the writer's transaction commits."""
    if change is None or not change:
        return
    source = source_name()
    if source == "postgres":
        # The table's trigger tells of every row it changed; logouts are told here.
        logouts = Change(sessions_ended=change.sessions_ended)
        if logouts:
            with connection.cursor() as cursor:
                for payload in logouts.payloads():
                    cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, payload])
        return
    redis_url = get_settings().REDIS_URL if source == "redis" else ""
    if not redis_url and not hub.has_hubs():
        return
    transaction.on_commit(lambda: _send(change, redis_url))


def _send(change: Change, redis_url: str) -> None:
    if redis_url:
        publisher(redis_url).put(change)
    else:
        hub.broadcast(change)


class Publisher:
    """A thread sending changes to one Redis, behind a circuit breaker."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._client: Any = None
        self._closed_until = 0.0
        self._pause = BREAK_FIRST
        self._missed = False

    def put(self, change: Change) -> None:
        """Hand ``change`` over; never waits."""
        if self._changes.qsize() >= QUEUE_LIMIT:
            self._missed = True  # the streams elsewhere will look again once it drains
            return
        self._changes.put(change)
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._serve, name="osis-async-publisher", daemon=True
                    )
                    self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                change = self._changes.get(timeout=self._retry_in())
            except queue.Empty:
                change = Change()  # the pause is over: what was missed is sent without a write
            while not self._changes.empty():
                change = change | self._changes.get_nowait()
            if time.monotonic() < self._closed_until:
                self._missed = True
                continue
            if self._missed:
                change = change | Change.of_everyone()
            if not change:
                continue
            try:
                pipeline = self._redis().pipeline(transaction=False)
                for payload in change.payloads():
                    pipeline.publish(CHANNEL, payload)
                pipeline.execute()
            except Exception as error:
                self._client = None
                self._missed = True
                self._closed_until = time.monotonic() + self._pause
                logger.warning(
                    "Could not publish task changes to Redis at %s (%s); not trying again for "
                    "%.0f s. The streams of other processes catch up once it answers.",
                    self.url,
                    error,
                    self._pause,
                )
                self._pause = min(self._pause * 2, BREAK_MAX)
                continue
            self._missed = False
            self._pause = BREAK_FIRST

    def _retry_in(self) -> float | None:
        """Seconds to wait for the next change: for ever, unless changes were missed; then
        until the pause is over, when the publisher tries Redis again of its own accord."""
        if not self._missed:
            return None
        return max(0.0, self._closed_until - time.monotonic())

    def _redis(self) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
        return self._client


_publishers: dict[str, Publisher] = {}
_publishers_lock = threading.Lock()


def publisher(url: str) -> Publisher:
    found = _publishers.get(url)
    if found is None:
        with _publishers_lock:
            found = _publishers.setdefault(url, Publisher(url))
    return found


def _forget_publishers() -> None:
    """In a forked child, the parent's threads and sockets are not its own."""
    global _publishers_lock
    _publishers.clear()
    _publishers_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_publishers)
