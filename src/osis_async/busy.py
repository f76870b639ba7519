"""What the app's own reads wait for at most, and what a client gets when the database is busy.

The list, its conditional polls and the streams' database work wait at most
``OSIS_ASYNC_DB_TIMEOUT`` seconds for the task table: a ``LOCK TABLE`` or a long migration
elsewhere, a statement that does not finish. Then the client gets a JSON 503
with ``Retry-After`` (the widget waits that long), never a request held for ever, and the
request gives its connection back at once.

On PostgreSQL the list's two statements are functions (migration 0005) that set
``lock_timeout`` for themselves, which costs no round trip; the streams' jobs, which are not
on a hot path, run in a transaction with ``SET LOCAL`` of both ``lock_timeout`` and
``statement_timeout``. On SQLite the wait for a lock is the connection's ``timeout`` option
(5 s unless ``DATABASES`` says otherwise).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import JsonResponse

from osis_async.conf import get_settings

#: Seconds a client is asked to wait after a 503 before asking again.
RETRY_AFTER = 10


def timeout_ms() -> int:
    """``OSIS_ASYNC_DB_TIMEOUT`` in whole milliseconds, at least 1."""
    return max(1, round(get_settings().DB_TIMEOUT * 1000))


@contextlib.contextmanager
def bounded(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """The statements run inside wait at most ``OSIS_ASYNC_DB_TIMEOUT`` for locks and for
    themselves (PostgreSQL; one transaction, or a savepoint inside the caller's)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using):
        milliseconds = f"{timeout_ms()}ms"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true), "
                "set_config('statement_timeout', %s, true)",
                [milliseconds, milliseconds],
            )
        yield


def busy_response(
    detail: str = "The task service is busy; try again shortly.", using: str = DEFAULT_DB_ALIAS
) -> JsonResponse:
    """The 503 for a read that failed or timed out. Inside the site's transaction
    (``ATOMIC_REQUESTS``), which the failed statement broke, that transaction is rolled back at
    its end."""
    if connections[using].in_atomic_block:
        transaction.set_rollback(True, using=using)
    response = JsonResponse({"detail": detail}, status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    return response
