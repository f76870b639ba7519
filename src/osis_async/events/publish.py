"""Telling other processes that tasks changed, where the database does not tell them itself.

With PostgreSQL the table's trigger notifies every listener, so nothing is sent from here. With
Redis each change is published; hubs in this process hear of it at once either way.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from django.db import connection, transaction

from osis_async.conf import get_settings
from osis_async.events import hub as hub_module
from osis_async.events.sources import CHANNEL, LOGOUT_PREFIX, TASK_PREFIX, source_name

logger = logging.getLogger(__name__)


def task_changed(uuid: Any) -> None:
    _publish(f"{TASK_PREFIX}{uuid}")


def person_changed(person_id: Any) -> None:
    if person_id is not None:
        _publish(str(person_id))


def anything_changed() -> None:
    _publish("*")


def session_ended(session_key: str) -> None:
    """A logout: the streams opened with that session end at once, in every process."""
    key = f"{LOGOUT_PREFIX}{session_key}"
    if source_name() == "postgres":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, key])
        return
    _publish(key)


def _publish(key: str) -> None:
    source = source_name()
    if source == "postgres":
        return
    redis_url = get_settings().REDIS_URL if source == "redis" else ""
    if not redis_url and not hub_module._hubs:
        return
    transaction.on_commit(lambda: _send(key, redis_url))


def _send(key: str, redis_url: str) -> None:
    if not redis_url:
        for loop, hub in list(hub_module._hubs.items()):
            if not loop.is_closed():
                loop.call_soon_threadsafe(
                    hub.notify, {key if key.startswith(LOGOUT_PREFIX) else "*"}
                )
        return
    try:
        _redis(redis_url).publish(CHANNEL, key)
    except Exception:
        # The stream is a convenience: the widget's safety poll catches what this misses.
        logger.warning("Could not publish task change %s to Redis", key, exc_info=True)


@cache
def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
