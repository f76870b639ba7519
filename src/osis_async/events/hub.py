"""One per process and event loop: the streams' subscriptions and the source feeding them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from osis_async.events.sources import TASK_PREFIX, ChangeSource, source_from_settings

logger = logging.getLogger(__name__)


class Hub:
    """Fans the person ids a change source reports out to the streams of those persons.

    The source runs as long as one stream is open in this process.
    """

    def __init__(self, source: ChangeSource) -> None:
        self.source = source
        self._queues: dict[str, set[asyncio.Queue[None]]] = defaultdict(set)
        self._runner: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def subscribe(self, person_id: Any) -> AsyncIterator[asyncio.Queue[None]]:
        """A queue that gets an item whenever ``person_id``'s tasks change."""
        key = str(person_id)
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._queues[key].add(queue)
        self._ensure_running()
        try:
            yield queue
        finally:
            self._queues[key].discard(queue)
            if not self._queues[key]:
                del self._queues[key]
            if not self._queues and self._runner is not None:
                runner, self._runner = self._runner, None
                runner.cancel()
                # Let the source close its connection before this stream's response ends.
                with contextlib.suppress(asyncio.CancelledError):
                    await runner

    def notify(self, person_ids: set[str]) -> None:
        if "*" in person_ids:
            person_ids = self.listening
        for key in person_ids:
            for queue in self._queues.get(key, ()):
                # A full queue already says "changed": the stream reads the latest state anyway.
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)

    @property
    def listening(self) -> set[str]:
        return set(self._queues)

    async def _persons(self, keys: set[str]) -> set[str]:
        """Person ids for ``keys``, looking up the owners of ``task:<uuid>`` keys."""
        uuids = {key.removeprefix(TASK_PREFIX) for key in keys if key.startswith(TASK_PREFIX)}
        if not uuids:
            return keys
        owners = await sync_to_async(_owners)(uuids)
        return {key for key in keys if not key.startswith(TASK_PREFIX)} | owners

    def _ensure_running(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async for keys in self.source.changes(self):
                    delay = 0.5
                    self.notify(await self._persons(keys))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception(
                    "Task change source %s failed; retrying in %.1fs", self.source, delay
                )
            # A source that stops or fails may have missed changes: every stream looks again.
            self.notify(self.listening)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def _owners(uuids: set[str]) -> set[str]:
    from osis_async.models.task import AsyncTask

    try:
        owners = AsyncTask.objects.filter(uuid__in=uuids).values_list("person_id", flat=True)
        return {str(person_id) for person_id in owners if person_id is not None}
    finally:
        close_old_connections()


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}
_shutdown: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}


def shutting_down() -> asyncio.Event:
    """Set when the server process is told to stop, so open streams end at once.

    ASGI servers wait for open responses before they exit; an endless stream would hold them
    until their graceful-shutdown timeout. The server's own signal handlers still run.
    """
    loop = asyncio.get_running_loop()
    if loop not in _shutdown:
        event = _shutdown[loop] = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            _chain_signal(signum, loop, event)
    return _shutdown[loop]


def _chain_signal(signum: int, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    previous = signal.getsignal(signum)

    def handler(received: int, frame: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            loop.call_soon_threadsafe(event.set)
        if callable(previous):
            previous(received, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(received, signal.SIG_DFL)
            os.kill(os.getpid(), received)

    # Outside the main thread this fails and the server's graceful-shutdown timeout applies.
    with contextlib.suppress(ValueError):
        signal.signal(signum, handler)


def get_hub() -> Hub:
    """This event loop's hub, built from the settings on first use."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        for stale in [other for other in _hubs if other.is_closed()]:
            del _hubs[stale]
        _hubs[loop] = Hub(source_from_settings())
    return _hubs[loop]


def reset_hubs() -> None:
    """Forget every hub (their sources follow the settings anew); for tests and reloads."""
    _hubs.clear()
