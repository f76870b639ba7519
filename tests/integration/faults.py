"""What the fault suite (``test_faults.py``) needs besides the servers and workers: a PostgreSQL
database per case, the app's backends in it, a Redis that hangs, and trials that count.

A case's database is a copy (``CREATE DATABASE … TEMPLATE``, a tenth of a second) of a
template migrated once per session by ``python -m django migrate`` in a subprocess (nearly two
seconds), which nothing ever connects to afterwards, as a template must.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.db import connections

from tests.integration.conftest import REPO

#: The real Redis behind ``FlakyRedis`` and the Redis change source of the cases (a database
#: number of their own; pub/sub channels are shared by all of them, which the cases allow for).
REDIS_HOST = "127.0.0.1"
REDIS_PORT = int(os.environ.get("OSIS_ASYNC_TEST_REDIS_PORT", "6379"))
REDIS_DB = 14


# --- PostgreSQL --------------------------------------------------------------------------------


def _server_params() -> dict[str, Any]:
    database = settings.DATABASES["default"]
    return {
        "host": database["HOST"],
        "port": database["PORT"],
        "user": database["USER"],
        "password": database["PASSWORD"],
    }


@contextlib.contextmanager
def admin_connection(dbname: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection of the test process's own, outside Django."""
    with psycopg.connect(**_server_params(), dbname=dbname, autocommit=True) as conn:
        yield conn


def create_migrated(name: str) -> None:
    """Create the database ``name`` and migrate it as the app's processes would."""
    drop_database(name)
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.stream_settings",
        "OSIS_ASYNC_TEST_DB": "postgres",
        "OSIS_ASYNC_TEST_DB_NAME": name,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
    }
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
    )


def create_copy(name: str, template: str) -> None:
    drop_database(name)
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def drop_database(name: str) -> None:
    """Drop ``name``, whoever is still connected to it."""
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def case_database_name(case: str) -> str:
    """``osis_async_fault_<case>_<pid>``, within PostgreSQL's 63 bytes."""
    suffix = f"_{os.getpid()}"
    case = re.sub(r"[^a-z0-9]+", "_", case.lower()).strip("_")
    return f"osis_async_fault_{case}"[: 63 - len(suffix)] + suffix


@contextlib.contextmanager
def default_database(name: str) -> Iterator[None]:
    """The test process's ``default`` connection on the database ``name`` meanwhile.

    Every thread's connection of an alias shares one settings dict, so the name changes for
    them all; the connections open now (this thread's, the tracking writer's) are closed on the
    way in and out, so none goes on talking to the other database."""
    from osis_async.integrations.tracking import close_connections

    connection = connections["default"]
    original = connection.settings_dict["NAME"]
    close_connections()
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        close_connections()
        connection.close()
        connection.settings_dict["NAME"] = original


def backends(db_name: str, condition: str = "true", params: tuple[Any, ...] = ()) -> list[int]:
    """The pids of the backends connected to ``db_name`` matching ``condition`` (SQL on
    ``pg_stat_activity``), this session's own excepted."""
    with admin_connection() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            f"AND backend_type = 'client backend' AND ({condition}) ORDER BY backend_start",
            (db_name, *params),
        ).fetchall()
    return [pid for (pid,) in rows]


def listeners(db_name: str) -> list[int]:
    """The backends on ``db_name`` of the streams' ``LISTEN`` connections."""
    from osis_async.events.changes import CHANNEL

    return backends(db_name, "query = %s", (f"LISTEN {CHANNEL}",))


def terminate(pids: list[int]) -> None:
    with admin_connection() as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])


# --- Redis -------------------------------------------------------------------------------------


def redis_url(port: int = REDIS_PORT, client_name: str = "") -> str:
    url = f"redis://{REDIS_HOST}:{port}/{REDIS_DB}"
    return f"{url}?client_name={client_name}" if client_name else url


def real_redis() -> redis.Redis:
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5)


def redis_subscribers(client_name: str) -> list[int]:
    """The ids of the pub/sub connections named ``client_name`` (the change source's, given
    its name in its URL): other runs share this Redis, and their subscribers are not ours."""
    with contextlib.closing(real_redis()) as client:
        return [
            int(entry["id"])
            for entry in client.client_list()
            if entry.get("name") == client_name and "P" in entry.get("flags", "")
        ]


def kill_redis_clients(ids: list[int]) -> None:
    with contextlib.closing(real_redis()) as client:
        for client_id in ids:
            client.client_kill_filter(_id=client_id)


class FlakyRedis:
    """A TCP endpoint for Redis clients: hung (it accepts connections, reads what it is sent
    and never answers: a Redis stuck in a long command, a half-dead VM) or answering (each
    connection is relayed to the real Redis). Counts the connections it accepted."""

    def __init__(self, *, hung: bool = True) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.hung = hung
        self.accepted = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="flaky-redis", daemon=True)
        self._thread.start()

    def url(self, client_name: str = "") -> str:
        return redis_url(self.port, client_name)

    def answer(self) -> None:
        """Relay to the real Redis from now on; the hung connections are closed, as a Redis
        that comes back after hanging has lost them."""
        with self._lock:
            self.hung = False
            hung, self._open = self._open, []
        for sock in hung:
            _close(sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._open = self._open, []
        _close(self._listener)
        for sock in sockets:
            _close(sock)
        self._thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    _close(client)
                    return
                self.accepted += 1
                hung = self.hung
                if hung:
                    self._open.append(client)
            if hung:
                threading.Thread(target=_swallow, args=(client,), daemon=True).start()
            else:
                self._relay(client)

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._open += [client, upstream]
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(source, target), daemon=True).start()


def _swallow(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    _close(source)
    _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# --- trials ------------------------------------------------------------------------------------


@dataclass
class Trials:
    """The outcomes of a case's trials, printed and asserted by ``check(expected)``: every one
    of the ``expected`` trials ran, and passed."""

    case: str
    #: The bound a trial's seconds must stay under, if any (``measure``).
    within: float | None = None
    #: ``(passed, seconds or None, what went wrong)`` per trial.
    outcomes: list[tuple[bool, float | None, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def measure(self, seconds: float, what: str = "") -> None:
        """A trial that took ``seconds``: passed if under ``within``."""
        passed = self.within is None or seconds < self.within
        note = "" if passed else f"{what or 'trial'} {len(self.outcomes) + 1} took {seconds:.3f} s"
        self.outcomes.append((passed, seconds, note))

    def passed(self) -> None:
        self.outcomes.append((True, None, ""))

    def failed(self, why: str) -> None:
        self.outcomes.append((False, None, why))

    @property
    def failures(self) -> list[str]:
        return [note for passed, _, note in self.outcomes if not passed]

    def report(self) -> str:
        good = sum(passed for passed, _, _ in self.outcomes)
        bound = f" within {self.within:g} s" if self.within is not None else ""
        text = f"{self.case}: {good} of {len(self.outcomes)} trials passed{bound}"
        timed = sorted(seconds for _, seconds, _ in self.outcomes if seconds is not None)
        if timed:
            text += f" (median {statistics.median(timed):.3f} s, max {timed[-1]:.3f} s)"
        text += f"; the case took {time.monotonic() - self.started:.1f} s"
        if self.failures:
            text += "; failed: " + "; ".join(self.failures[:10])
        return text

    def check(self, expected: int) -> None:
        text = self.report()
        print(text)
        assert len(self.outcomes) == expected and not self.failures, text


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.02
) -> Any:
    """``predicate()``'s first true value, polled; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
