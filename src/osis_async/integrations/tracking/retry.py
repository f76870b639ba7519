"""How a tracking write meets a transient database error: tried again on a fresh connection
(``retried``), inside the job's transaction behind a savepoint."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import DataError, connections, router, transaction

from osis_async.exceptions import InvalidTaskUpdate, TaskNotFound
from osis_async.models.task import AsyncTask

logger = logging.getLogger("osis_async.integrations")

T = TypeVar("T")

#: How many times a final write (``DONE`` / ``ERROR``) is tried before giving up.
FINAL_WRITE_ATTEMPTS = 4
#: Seconds slept before the n-th retry of a final write: 0.2, 0.4, 0.8...
FINAL_WRITE_BACKOFF = 0.2

#: What no retry can change: the row is gone, or a value is refused.
PERMANENT = (TaskNotFound, InvalidTaskUpdate, DataError)


def retried(write: Callable[[], T], *, attempts: int, what: str) -> tuple[bool, T | None]:
    """``(True, write())``, trying ``write`` up to ``attempts`` times while it fails with a
    transient error (a dropped connection, the database restarting): each failure is logged
    and the connection dropped if broken, then slept on (``FINAL_WRITE_BACKOFF``, doubling).
    ``PERMANENT`` errors are raised at once; ``(False, None)`` when every try failed."""
    alias = router.db_for_write(AsyncTask)
    for attempt in range(1, attempts + 1):
        try:
            with savepoint_if_in_transaction(alias):
                return True, write()
        except PERMANENT:
            raise
        except Exception:
            logger.warning(
                "Could not record %s (try %d of %d); the job goes on.",
                what,
                attempt,
                attempts,
                exc_info=True,
            )
            drop_broken_connection(alias)
            if attempt < attempts:
                time.sleep(FINAL_WRITE_BACKOFF * 2 ** (attempt - 1))
    return False, None


@contextlib.contextmanager
def savepoint_if_in_transaction(alias: str) -> Iterator[None]:
    """Inside the job's own transaction, a failing write must not break that transaction."""
    if connections[alias].in_atomic_block:
        with transaction.atomic(using=alias):
            yield
    else:
        yield


def drop_broken_connection(alias: str) -> None:
    """Let the next write open a fresh connection if this one is dead (outside transactions)."""
    connection = connections[alias]
    if connection.in_atomic_block:
        return
    with contextlib.suppress(Exception):
        connection.close_if_unusable_or_obsolete()
