"""One per process and event loop: the open streams, the change source feeding them, and the
checks that tell each stream when its person's list changed.

An open stream is a ``Subscription``: a few fields and an event to wake it. It holds no thread
and no database connection. What the streams need from the database is asked for all of them
at once, on the streams' database thread (``events.database``):

- when the source reports changes, the versions of the changed persons' lists, one query per
  thousand persons; each subscription whose version moved is woken with its new version;
- after the source (re)subscribes, the versions of every listening person's list, so what
  changed while it was not listening is not lost;
- at every keep-alive, whether the streams' sessions still sign their users in.

Streams are admitted up to ``OSIS_ASYNC_STREAM_MAX_PER_PERSON`` per person and
``OSIS_ASYNC_STREAM_MAX_PER_PROCESS`` in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Collection, Coroutine
from dataclasses import dataclass
from typing import Any

from osis_async.busy import bounded
from osis_async.changes import Change
from osis_async.conf import get_settings
from osis_async.events.database import DatabaseThread, database_thread
from osis_async.events.sessions import ended_sessions
from osis_async.events.sources import ChangeSource, source_from_settings
from osis_async.listing import person_versions, version_token
from osis_async.models.task import AsyncTask

logger = logging.getLogger(__name__)

#: Streams woken for their keep-alive before the hub lets the event loop run other work.
KEEPALIVE_BATCH = 200
#: Seconds before the source is opened again after it failed to listen: 0 the first time,
#: then doubled while it keeps failing.
RETRY_FIRST = 0.5
RETRY_MAX = 30.0
#: A source that listened before failing (its connection was lost, not refused), or that tried
#: at least this long, is opened again at once: the open streams hear nothing until it is.
STABLE_AFTER = 5.0


class Subscription:
    """One open stream: woken when its person's list changes, its session ends, it reaches its
    maximum age or it is due a keep-alive. Small, as there may be tens of thousands."""

    __slots__ = (
        "person",
        "session_key",
        "user_id",
        "version",
        "expires_at",
        "changed",
        "logged_out",
        "keepalive",
        "expired",
        "_woken",
        "_waiter",
    )

    def __init__(
        self, person: str, session_key: str | None, user_id: str, version: str, expires_at: float
    ) -> None:
        self.person = person
        self.session_key = session_key
        self.user_id = user_id
        #: The version of the person's list this stream told its browser last.
        self.version = version
        #: When (``time.monotonic()``) the stream reaches its maximum age.
        self.expires_at = expires_at
        self.changed = False
        self.logged_out = False
        #: The hub's keep-alive tick came: send something if nothing else was sent.
        self.keepalive = False
        self.expired = False
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def woken(self) -> None:
        """Return once woken (at once if it was since the last return)."""
        if not self._woken:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._woken = False


@dataclass(frozen=True)
class Refusal:
    """A stream that cannot be admitted: who is over which cap."""

    reason: str


class Admission:
    """A stream admitted but not yet subscribed: it counts towards the caps from the moment it
    is admitted, and stops counting when it ends, or is dropped before it ever started."""

    __slots__ = ("_hub", "person", "sequence")

    def __init__(self, hub: Hub, person: str, sequence: int) -> None:
        self._hub: Hub | None = hub
        self.person = person
        #: The hub's change count when the stream read its version.
        self.sequence = sequence

    def release(self) -> None:
        hub, self._hub = self._hub, None
        if hub is not None:
            hub._release(self.person)

    def __del__(self) -> None:
        self.release()


class Hub:
    def __init__(self, source: ChangeSource, database: DatabaseThread | None = None) -> None:
        self.source = source
        self.database = database or database_thread()
        # Lists, not sets: a person or a session rarely has more than one or two streams, and
        # an empty set costs three times a one-item list.
        self._by_person: dict[str, list[Subscription]] = {}
        self._by_session: dict[str, list[Subscription]] = {}
        self._admitted: dict[str, int] = {}
        self._total = 0
        #: Changes heard so far: a stream that read its version before the latest one is
        #: checked again once it is subscribed.
        self.sequence = 0
        self._dirty = Change()
        self._checker: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        #: Set while the source is listening: a change from then on reaches the streams.
        self.source_ready = asyncio.Event()

    # --- admission and subscriptions ----------------------------------------------------------

    @property
    def open_streams(self) -> int:
        return self._total

    def admit(self, person: str) -> Admission | Refusal:
        conf = get_settings()
        if self._total >= conf.STREAM_MAX_PER_PROCESS:
            return Refusal("This server holds as many task streams as it allows.")
        if self._admitted.get(person, 0) >= conf.STREAM_MAX_PER_PERSON:
            return Refusal("You hold as many task streams open as are allowed.")
        self._admitted[person] = self._admitted.get(person, 0) + 1
        self._total += 1
        return Admission(self, person, self.sequence)

    def full(self) -> bool:
        return self._total >= get_settings().STREAM_MAX_PER_PROCESS

    def _release(self, person: str) -> None:
        self._total -= 1
        left = self._admitted.get(person, 1) - 1
        if left:
            self._admitted[person] = left
        else:
            self._admitted.pop(person, None)

    def subscribe(
        self,
        admission: Admission,
        *,
        session_key: str | None,
        user_id: str,
        version: str,
        max_age: float,
    ) -> Subscription:
        """Start waking the admitted stream; ``unsubscribe`` it when it ends."""
        subscription = Subscription(
            admission.person, session_key, user_id, version, time.monotonic() + max_age
        )
        self._by_person.setdefault(subscription.person, []).append(subscription)
        if session_key is not None:
            self._by_session.setdefault(session_key, []).append(subscription)
        self._ensure_running()
        if admission.sequence != self.sequence:
            # A change was heard between reading the version and subscribing: look again.
            self.notify(Change.of_person(subscription.person))
        return subscription

    async def unsubscribe(self, subscription: Subscription, admission: Admission) -> None:
        _discard(self._by_person, subscription.person, subscription)
        if subscription.session_key is not None:
            _discard(self._by_session, subscription.session_key, subscription)
        admission.release()
        if not self._by_person:
            await self._stop()

    @property
    def listening(self) -> set[str]:
        """The persons with an open stream here."""
        return set(self._by_person)

    # --- changes -------------------------------------------------------------------------------

    def notify(self, change: Change) -> None:
        """Tell the streams concerned by ``change`` (in the event loop's thread)."""
        for key in change.sessions_ended:
            for subscription in self._by_session.get(key, ()):
                subscription.logged_out = True
                subscription.wake()
        if change.lists_changed and self._by_person:
            self.sequence += 1
            self._dirty = self._dirty | Change(
                persons=change.persons, tasks=change.tasks, everyone=change.everyone
            )
            if self._checker is None or self._checker.done():
                self._checker = _spawn(self._check())

    def catch_up(self) -> None:
        """The source (re)subscribed: every stream looks at its list again."""
        self.source_ready.set()
        self.notify(Change.of_everyone())

    def wake_all(self) -> None:
        for subscriptions in self._by_person.values():
            for subscription in subscriptions:
                subscription.wake()

    async def _check(self) -> None:
        """Until nothing is left to look at: read the changed lists' versions, wake the streams
        whose version moved. Changes heard meanwhile are looked at in the next round."""
        delay = RETRY_FIRST
        while self._dirty and self._by_person:
            dirty, self._dirty = self._dirty, Change()
            listening = frozenset(self._by_person)
            persons = listening if dirty.everyone else dirty.persons & listening
            try:
                versions = await self.database.run(_versions, persons, dirty.tasks, listening)
            except Exception:
                logger.warning(
                    "Could not read the task lists' versions for the streams; retrying in %.1fs",
                    delay,
                    exc_info=True,
                )
                self._dirty = self._dirty | dirty
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
            for person, token in versions.items():
                for subscription in self._by_person.get(person, ()):
                    if subscription.version != token:
                        subscription.version = token
                        subscription.changed = True
                        subscription.wake()

    # --- the source and the keep-alive clock ------------------------------------------------

    def _ensure_running(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = _spawn(self._run())
        if self._ticker is None or self._ticker.done():
            self._ticker = _spawn(self._tick())

    async def _stop(self) -> None:
        tasks = [task for task in (self._ticker, self._checker, self._runner) if task is not None]
        self._ticker = self._checker = self._runner = None
        self.source_ready.clear()
        for task in tasks:
            task.cancel()
        # Let the source close its connection before this stream's response ends.
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        delay = 0.0
        while True:
            started = time.monotonic()
            failure: Exception | None = None
            try:
                async for change in self.source.changes(self):
                    self.notify(change)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failure = error
            if self.source_ready.is_set() or time.monotonic() - started >= STABLE_AFTER:
                delay = 0.0
            if failure is not None:
                logger.warning(
                    "Task change source %s failed; listening again in %.1fs",
                    self.source,
                    delay,
                    exc_info=failure,
                )
            self.source_ready.clear()
            # While it is not listening, the streams look at their lists after each wait.
            self.notify(Change.of_everyone())
            await asyncio.sleep(delay)
            delay = min(max(delay * 2, RETRY_FIRST), RETRY_MAX)

    async def _tick(self) -> None:
        """Every ``OSIS_ASYNC_STREAM_KEEPALIVE`` seconds: end the streams whose session ended,
        then wake every stream for its keep-alive (or its end, past its maximum age), in
        batches that let other work in between.

        One clock for all the streams of the process rather than a timer each: their
        keep-alives go out together, and a stream costs no timer."""
        while True:
            await asyncio.sleep(get_settings().STREAM_KEEPALIVE)
            await self._end_stale_sessions()
            subscriptions = [s for group in self._by_person.values() for s in group]
            now = time.monotonic()
            for start in range(0, len(subscriptions), KEEPALIVE_BATCH):
                for subscription in subscriptions[start : start + KEEPALIVE_BATCH]:
                    subscription.keepalive = True
                    if subscription.expires_at <= now:
                        subscription.expired = True
                    subscription.wake()
                await asyncio.sleep(0)

    async def _end_stale_sessions(self) -> None:
        signed_in = {
            (key, subscription.user_id)
            for key, subscriptions in self._by_session.items()
            for subscription in subscriptions
        }
        if not signed_in:
            return
        try:
            ended = await self.database.run(_ended_sessions, signed_in)
        except Exception:
            logger.warning("Could not check the streams' sessions.", exc_info=True)
            return
        self.notify(Change(sessions_ended=frozenset(ended)))


def _discard(index: dict[str, list[Subscription]], key: str, subscription: Subscription) -> None:
    group = index.get(key)
    if group is not None and subscription in group:
        group.remove(subscription)
        if not group:
            del index[key]


def _spawn(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task of the hub's own, outside the request whose stream started it (its context
    would tie the task to that request's thread and locals)."""
    return contextvars.Context().run(asyncio.get_running_loop().create_task, coroutine)


def _versions(
    persons: Collection[str], tasks: Collection[str], listening: frozenset[str]
) -> dict[str, str]:
    """(the streams' database thread) The version tokens of ``persons``' lists and of the
    listening owners of ``tasks``."""
    with bounded():
        wanted = set(persons)
        if tasks:
            wanted |= _owners(tasks) & listening
        return {person: version_token(v) for person, v in person_versions(wanted).items()}


def _owners(uuids: Collection[str]) -> set[str]:
    owners = AsyncTask.objects.filter(uuid__in=list(uuids)).values_list("person_id", flat=True)
    return {str(person_id) for person_id in owners if person_id is not None}


def _ended_sessions(signed_in: Collection[tuple[str, str]]) -> set[str]:
    with bounded():
        return ended_sessions(signed_in)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}
_hubs_lock = threading.Lock()


def get_hub() -> Hub:
    """This event loop's hub, built from the settings on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        with _hubs_lock:
            for stale in [other for other in _hubs if other.is_closed()]:
                del _hubs[stale]
            hub = _hubs[loop] = Hub(source_from_settings())
    return hub


def broadcast(change: Change) -> None:
    """Tell every hub of this process of ``change``, from any thread."""
    with _hubs_lock:
        hubs = list(_hubs.items())
    for loop, hub in hubs:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(hub.notify, change)


def has_hubs() -> bool:
    return bool(_hubs)
