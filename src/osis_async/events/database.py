"""The streams' database work: one thread per process, one connection, borrowed only while busy.

An open stream must hold neither a thread nor a database connection. Everything a stream needs
from the database (who is asking when it opens, the versions of the lists that changed, whether
sessions are still valid) is a short job run here, one after the other, on this thread's own
connection: opening 10,000 streams costs one connection, not 10,000. The connection is given
back (closed, or returned to the site's pool) once the thread has had nothing to do for
``IDLE_RELEASE`` seconds, and closed at once after a database error, so the next job opens a
fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds without a job after which the thread gives its connection back.
IDLE_RELEASE = 2.0

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class DatabaseThread:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def backlog(self) -> int:
        """Jobs waiting for the thread."""
        return self._jobs.qsize()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the thread; its result, or what it raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((lambda: function(*args), loop, future))
        self._ensure_thread()
        return await future

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="osis-async-streams-db", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        connected = False
        while True:
            try:
                function, loop, future = self._jobs.get(timeout=IDLE_RELEASE if connected else None)
            except queue.Empty:
                _release()
                connected = False
                continue
            connected = True
            if future.cancelled():
                continue
            try:
                result = function()
            except BaseException as error:  # handed to the waiting coroutine
                if isinstance(error, DatabaseError):
                    _release()
                    connected = False
                _resolve(loop, future, error=error)
            else:
                _resolve(loop, future, result=result)


def _resolve(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    def settle() -> None:
        if future.done():
            return  # the stream went away meanwhile
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


def _release() -> None:
    for connection in connections.all(initialized_only=True):
        with contextlib.suppress(Exception):
            connection.close()


_THREAD: DatabaseThread | None = None
_THREAD_LOCK = threading.Lock()


def database_thread() -> DatabaseThread:
    """This process's thread for the streams' database work."""
    global _THREAD
    if _THREAD is None:
        with _THREAD_LOCK:
            if _THREAD is None:
                _THREAD = DatabaseThread()
    return _THREAD


def _forget_thread() -> None:
    """In a forked child, the parent's thread does not exist."""
    global _THREAD, _THREAD_LOCK
    _THREAD = None
    _THREAD_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_thread)
