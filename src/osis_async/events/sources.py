"""Where a process learns that tasks changed, whichever process or machine changed them.

Each source yields ``Change``s, and calls ``hub.catch_up()`` each time it starts listening, so
the streams look again at what may have changed while it was not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Max

from osis_async.changes import CHANNEL, Change
from osis_async.conf import get_settings
from osis_async.models.task import AsyncTask

if TYPE_CHECKING:
    from osis_async.events.hub import Hub

logger = logging.getLogger(__name__)

SOURCES = ("auto", "postgres", "redis", "polling")
#: Seconds a Redis subscription may stay silent before it is pinged, and waits for an answer.
REDIS_PING_AFTER = 15.0
REDIS_ANSWER_TIMEOUT = 5.0


class ChangeSource(Protocol):
    def changes(self, hub: Hub) -> AsyncIterator[Change]: ...


class PostgresSource:
    """``LISTEN`` to the notifications the table's trigger sends on every insert, update and
    delete, from any connection: web processes, workers, the admin, ``psql``."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using

    def __str__(self) -> str:
        return f"PostgreSQL LISTEN {CHANNEL}"

    async def changes(self, hub: Hub) -> AsyncIterator[Change]:
        import psycopg

        params = {
            key: value
            for key, value in connections[self.using].get_connection_params().items()
            if key not in ("cursor_factory", "context", "prepare_threshold")
        }
        params.setdefault("connect_timeout", 10)
        async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            hub.catch_up()
            # Woken by the socket alone: psycopg's notifies() also wakes ten times a second to
            # look for an interruption, which an idle server would pay in every process.
            async for payloads in _notifications(conn.pgconn):
                yield Change.from_payloads(payloads)


async def _notifications(pgconn: Any) -> AsyncIterator[set[str]]:
    """The payloads of the notifications ``pgconn`` (a ``psycopg.pq.PGconn`` that is
    listening and otherwise idle) receives, a set per batch, until its connection fails."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    fd = pgconn.socket
    loop.add_reader(fd, readable.set)
    try:
        while True:
            await readable.wait()
            readable.clear()
            pgconn.consume_input()  # raises once the connection is lost
            payloads = set()
            while (notify := pgconn.notifies()) is not None:
                payloads.add(notify.extra.decode())
            if payloads:
                yield payloads
    finally:
        loop.remove_reader(fd)


class RedisSource:
    """Redis pub/sub: ``osis_async.events.publish`` sends what each process changes."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __str__(self) -> str:
        return f"Redis SUBSCRIBE {CHANNEL}"

    async def changes(self, hub: Hub) -> AsyncIterator[Change]:
        import redis.asyncio as redis

        client = redis.from_url(self.url, socket_connect_timeout=REDIS_ANSWER_TIMEOUT)
        try:
            pubsub = client.pubsub()
            await asyncio.wait_for(pubsub.subscribe(CHANNEL), REDIS_ANSWER_TIMEOUT)
            hub.catch_up()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=REDIS_PING_AFTER
                )
                if message is None:
                    # Silence: a Redis that stopped answering looks the same, so ask it.
                    await asyncio.wait_for(pubsub.ping(), REDIS_ANSWER_TIMEOUT)
                elif message["type"] == "message":
                    yield Change.from_payloads([message["data"].decode()])
        finally:
            await client.aclose()


class PollingSource:
    """Looks at the table every ``OSIS_ASYNC_POLL_INTERVAL`` seconds: for SQLite and any
    database without notifications. One query per interval per process, whatever the streams."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def __str__(self) -> str:
        return f"polling every {self.interval}s"

    async def changes(self, hub: Hub) -> AsyncIterator[Change]:
        mark = await hub.database.run(_latest)
        hub.catch_up()
        while True:
            await asyncio.sleep(self.interval)
            changed, mark = await hub.database.run(_changed_since, mark)
            if changed:
                yield changed


def _latest() -> tuple[Any, int]:
    found = AsyncTask.objects.aggregate(latest=Max("updated_at"))["latest"]
    return found, AsyncTask.objects.count()


def _changed_since(mark: tuple[Any, int]) -> tuple[Change, tuple[Any, int]]:
    latest, count = mark
    rows = AsyncTask.objects.order_by()
    if latest is not None:
        rows = rows.filter(updated_at__gt=latest)
    found = list(rows.values_list("person_id", "updated_at"))
    new_count = AsyncTask.objects.count()
    persons = frozenset(str(person_id) for person_id, _ in found if person_id is not None)
    if found:
        latest = max(updated for _, updated in found)
    # A deletion: its person is no longer there to read.
    return Change(persons=persons, everyone=new_count < count), (latest, new_count)


def source_name() -> str:
    """The change source the settings choose, ``"auto"`` resolved."""
    conf = get_settings()
    name = conf.CHANGE_SOURCE
    if name not in SOURCES:
        raise ImproperlyConfigured(
            f"OSIS_ASYNC_CHANGE_SOURCE {name!r} is not one of {', '.join(SOURCES)}."
        )
    if name != "auto":
        return name
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return "postgres"
    return "redis" if conf.REDIS_URL else "polling"


def source_from_settings() -> ChangeSource:
    conf = get_settings()
    name = source_name()
    if name == "postgres":
        return PostgresSource()
    if name == "redis":
        return RedisSource(conf.REDIS_URL)
    return PollingSource(conf.POLL_INTERVAL)
