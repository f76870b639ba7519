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
import select
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
    from osis_async.changes import CHANNEL

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


class ChannelWatch:
    """This process's own subscription to the changes' Redis channel: to know a change was
    published (the publisher sends from a thread of its own, after the write returned)."""

    def __init__(self) -> None:
        from osis_async.changes import CHANNEL

        self._client = real_redis()
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(CHANNEL)

    def wait_for(self, payload: str, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=left)
            if message is not None and message["data"].decode() == payload:
                return
        raise AssertionError(f"{payload!r} was not published within {timeout} s")

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


class FlakyProxy:
    """A TCP endpoint in front of a server (``upstream``, ``(host, port)``): hung (it accepts
    connections, reads what they send and never answers: a server stuck, a half-dead VM, a
    network that drops every packet) or answering (each connection is relayed to the server).
    Counts the connections it accepted."""

    def __init__(self, upstream: tuple[str, int], *, hung: bool = True) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.hung = hung
        self.accepted = 0
        self._lock = threading.Lock()
        self._spared = 0
        self._held: list[_Held] = []
        self._open: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="flaky-proxy", daemon=True)
        self._thread.start()

    def hang(self, *, after: int = 0) -> None:
        """Answer no new connection from now on but the next ``after`` ones (those being
        relayed go on)."""
        with self._lock:
            self.hung = True
            self._spared = after

    def answer(self, *, resume: bool = False) -> None:
        """Relay to the server from now on. The hung connections are closed, as a server
        that comes back after hanging has lost them; or, ``resume``, relayed with what they
        sent meanwhile, as from a server that was only slow to answer."""
        with self._lock:
            self.hung = False
            held, self._held = self._held, []
        for connection in held:
            connection.release(resume)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            held, self._held = self._held, []
            sockets, self._open = self._open, []
        _close(self._listener)
        for connection in held:
            connection.release(False)
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
                hung = self.hung and self._spared == 0
                self._spared = max(0, self._spared - 1) if self.hung else 0
                held = _Held(client, self._relay) if hung else None
                if held is not None:
                    self._held.append(held)
            if held is None:
                self._relay(client)

    def _relay(self, client: socket.socket, sent: bytes = b"") -> None:
        """Relay ``client`` to the server, ``sent`` (what it sent before) first."""
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
            upstream.sendall(sent)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._open += [client, upstream]
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(source, target), daemon=True).start()


class FlakyRedis(FlakyProxy):
    """A ``FlakyProxy`` in front of the real Redis."""

    def __init__(self, *, hung: bool = True) -> None:
        super().__init__((REDIS_HOST, REDIS_PORT), hung=hung)

    def url(self, client_name: str = "") -> str:
        return redis_url(self.port, client_name)


class _Held:
    """A connection that gets no answer: what it sends is kept until it is released, then it
    is closed, or relayed with what it sent."""

    def __init__(self, sock: socket.socket, relay: Callable[[socket.socket, bytes], None]):
        self.sock = sock
        self._relay = relay
        self._sent = bytearray()
        self._released = threading.Event()
        self._resume = False
        threading.Thread(target=self._hold, daemon=True).start()

    def release(self, resume: bool) -> None:
        self._resume = resume
        self._released.set()

    def _hold(self) -> None:
        with contextlib.suppress(OSError):
            while not self._released.is_set():
                readable, _, _ = select.select([self.sock], [], [], 0.02)
                if readable:
                    data = self.sock.recv(65536)
                    if not data:
                        break  # the client gave up
                    self._sent += data
            else:
                if self._resume:
                    self._relay(self.sock, bytes(self._sent))
                    return
        _close(self.sock)


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
        check_trials((self, expected))


def check_trials(*cases: tuple[Trials, int]) -> None:
    """Print every report, then assert each ``(trials, expected)``: ``expected`` trials ran and
    passed."""
    for trials, _ in cases:
        print(trials.report())
    for trials, expected in cases:
        assert len(trials.outcomes) == expected and not trials.failures, trials.report()


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
