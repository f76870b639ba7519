"""One per process and event loop: the streams' subscriptions and the source feeding them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from osis_async.conf import get_settings
from osis_async.events.sources import (
    LOGOUT_PREFIX,
    TASK_PREFIX,
    ChangeSource,
    source_from_settings,
)

logger = logging.getLogger(__name__)

#: Streams woken for their keep-alive before the hub lets the event loop run other work.
KEEPALIVE_BATCH = 200


@dataclass(eq=False)
class Subscription:
    """One open stream: woken when its person's tasks change or its session ends."""

    person: str
    session_key: str | None
    #: Set when anything below is, or the process is told to stop.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    changed: bool = False
    logged_out: bool = False
    #: The hub's keep-alive tick came: send something if nothing else was sent.
    keepalive: bool = False
    #: The stream reached its maximum age.
    expired: bool = False

    def expire(self) -> None:
        self.expired = True
        self.wake.set()


class Hub:
    """Fans what a change source reports out to the streams it concerns.

    Keys: a person id (their tasks changed), ``task:<uuid>`` (that task's owner's did), ``*``
    (anyone's may have), ``logout:<session key>`` (that session ended). The source runs as long
    as one stream is open in this process.
    """

    def __init__(self, source: ChangeSource) -> None:
        self.source = source
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)
        self._runner: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        #: Set while the source is listening: a change from then on reaches the streams.
        self.source_ready = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, person_id: Any, session_key: str | None = None
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(str(person_id), session_key)
        self._subscriptions[subscription.person].add(subscription)
        self._ensure_running()
        try:
            yield subscription
        finally:
            self._subscriptions[subscription.person].discard(subscription)
            if not self._subscriptions[subscription.person]:
                del self._subscriptions[subscription.person]
            if not self._subscriptions and self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None
            if not self._subscriptions and self._runner is not None:
                runner, self._runner = self._runner, None
                runner.cancel()
                self.source_ready.clear()
                # Let the source close its connection before this stream's response ends.
                with contextlib.suppress(asyncio.CancelledError):
                    await runner

    def notify(self, keys: set[str]) -> None:
        if "*" in keys:
            keys = keys | self.listening
        for key in keys:
            if key.startswith(LOGOUT_PREFIX):
                ended = key.removeprefix(LOGOUT_PREFIX)
                for subscriptions in self._subscriptions.values():
                    for subscription in subscriptions:
                        if subscription.session_key == ended:
                            subscription.logged_out = True
                            subscription.wake.set()
                continue
            for subscription in self._subscriptions.get(key, ()):
                subscription.changed = True
                subscription.wake.set()

    def wake_all(self) -> None:
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.wake.set()

    @property
    def listening(self) -> set[str]:
        return set(self._subscriptions)

    async def _persons(self, keys: set[str]) -> set[str]:
        """``keys`` with ``task:<uuid>`` ones replaced by their owners' person ids."""
        uuids = {key.removeprefix(TASK_PREFIX) for key in keys if key.startswith(TASK_PREFIX)}
        if not uuids:
            return keys
        owners = await sync_to_async(_owners)(uuids)
        return {key for key in keys if not key.startswith(TASK_PREFIX)} | owners

    async def wait_until_listening(self, timeout: float = 5.0) -> None:
        """Wait (a little) for the source, so no change falls between "ready" and listening."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.source_ready.wait(), timeout)

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        if self._ticker is None or self._ticker.done():
            self._ticker = loop.create_task(self._tick())

    async def _tick(self) -> None:
        """Every ``OSIS_ASYNC_STREAM_KEEPALIVE`` seconds, wake every stream for its keep-alive.

        One clock for all the streams of the process rather than a timer each: their
        keep-alives go out together, in batches that let other work in between.
        """
        while True:
            await asyncio.sleep(get_settings().STREAM_KEEPALIVE)
            subscriptions = [s for group in self._subscriptions.values() for s in group]
            for start in range(0, len(subscriptions), KEEPALIVE_BATCH):
                for subscription in subscriptions[start : start + KEEPALIVE_BATCH]:
                    subscription.keepalive = True
                    subscription.wake.set()
                await asyncio.sleep(0)

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

    def stop_streams() -> None:
        event.set()
        if loop in _hubs:
            _hubs[loop].wake_all()

    def handler(received: int, frame: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            loop.call_soon_threadsafe(stop_streams)
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
