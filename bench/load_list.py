"""Bounded loopback load on the list: many clients at once under uvicorn and gunicorn.

    .venv/bin/python bench/load_list.py [--clients 500] [--streams 500] [--duration 30]
        [--warmup 10] [--servers uvicorn,gunicorn]

Seeds a database of its own (``osis_async_load_list``, dropped and recreated: per client and per
stream one user, one session and 20 finished tasks), owned by a role of its own that is no
superuser and may hold ``--role-limit`` connections (``CONNECTION LIMIT 40``: the issue's
limit). Then, one server after the other in the same run, it starts the demo on 127.0.0.1
(``bench/load_settings.py``: ``demo.settings``, ``DEBUG = False``, PostgreSQL as that role) and
loads it:

- **uvicorn** (``demo.asgi:application``): one worker per core, uvloop, httptools, and the
  demo's ASGI database set-up, psycopg's pool (``DATABASE_POOL`` in ``demo/settings.py``,
  ``CONN_MAX_AGE = 0``: what ``docs/live-updates.md`` documents). First ``--streams`` streams
  (``tasks/stream/``, one session each) are opened and held for the whole run; then
  ``--clients`` clients hammer the list.
  ``--uvicorn-db none`` runs it as the issue did instead: ``CONN_MAX_AGE = 0`` and no pool.
- **gunicorn** (``demo.wsgi:application``): 2 x cores + 1 sync workers with the demo's
  persistent connections (``CONN_MAX_AGE = 60``), the same list clients, no stream (WSGI has
  none).

Each list client is a closed loop with a session of its own: it sends ``GET
/osis_async/tasks/?limit=15`` on a keep-alive HTTP/1.1 connection as soon as the previous
answer is in (gunicorn's sync workers close every connection: that client then opens a new one,
and its latency includes the connect). Clients with an even index are conditional: they send
``If-None-Match`` with the ``ETag`` of their previous 200, so after their first request they get
304s; the odd ones send none and get 200s. Half the requests are therefore 304s. Clients and
streams start spread over ``--ramp`` seconds; after ``--warmup`` seconds a window of
``--duration`` seconds is measured: requests answered in it, their latency from the request's
first byte (or connect) to the answer's last, the CPU of the server's process tree, of the
PostgreSQL backends serving the database and of this script, from ``/proc``.

The client is one process on uvloop with ``asyncio.Protocol`` connections and a minimal
HTTP/1.1 parser (no HTTP library: it must not be the bottleneck on 2 cores with 1,000
connections; its CPU is reported). Every 100 ms a thread counts the server's connections to the
database in ``pg_stat_activity`` (client backends of that database; the monitor is connected to
another one): their maximum over the whole run is reported against the configured limit,
workers x ``max_size`` for the pool, plus one ``LISTEN`` connection per uvicorn worker that has
a stream open (the change source's, outside the pool), and workers x 1 for gunicorn.

Errors, counted over the whole run (ramp and warm-up included): a list answer other than 200 or
304, a transport error, a request unanswered after ``--request-timeout`` seconds, a stream that
fails to open (a status other than 200, no ``ready`` within ``--request-timeout``) or that ends
before the run does. The run is bounded: each server has a time budget, and a watchdog kills
the server and exits 2 if the whole run overruns. The open-file limit is raised to its hard
limit for this process and the servers. Exits 1 if uvicorn had any error or its connections ever
exceeded the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as bench/load_list.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.loadkit import (  # noqa: E402
    CORES,
    PG_HOST,
    PG_PORT,
    PG_USER,
    TASKS_PER_PERSON,
    VENV_BIN,
    Backends,
    CpuMeter,
    client_cpu,
    ensure_role,
    free_port,
    machine_busy_ticks,
    postmaster_pid,
    quantile,
    raise_fd_limit,
    seed,
    serve,
    server_env,
    server_tree_meter,
)

DATABASE = "osis_async_load_list"
#: The servers' role (not a superuser), with a connection limit as in the issue: 40.
ROLE = "osis_async_load_list"
LIST_PATH = "/osis_async/tasks/?limit=15"
STREAM_PATH = "/osis_async/tasks/stream/"
SAMPLE_CPU_EVERY = 0.5  # seconds
SAMPLE_CONNECTIONS_EVERY = 0.1  # seconds
READY_TIMEOUT = 60.0  # seconds for a server to answer
_T = TypeVar("_T")


@dataclass(frozen=True)
class Server:
    name: str
    workers: int
    streams: bool
    #: The most connections the server may hold outside ``LISTEN``: workers x the pool's
    #: ``max_size``, workers x 1 persistent one, or (no pool under ASGI) the role's limit.
    pooled_limit: int

    @property
    def limit(self) -> int:
        """The most connections the server may hold, one ``LISTEN`` per worker included."""
        return self.pooled_limit + (self.workers if self.streams else 0)


@dataclass(frozen=True)
class Config:
    clients: int
    streams: int
    duration: float
    warmup: float
    ramp: float
    request_timeout: float
    uvicorn_workers: int
    gunicorn_workers: int
    pool: dict[str, float]
    uvicorn_pool: bool
    role_limit: int

    def server(self, name: str) -> Server:
        if name == "uvicorn":
            per_process = int(self.pool["max_size"]) if self.uvicorn_pool else None
            return Server(
                "uvicorn",
                self.uvicorn_workers,
                self.streams > 0,
                # Without a pool, nothing but the role's limit bounds them.
                self.uvicorn_workers * per_process
                if per_process is not None
                else self.role_limit - (self.uvicorn_workers if self.streams else 0),
            )
        return Server("gunicorn", self.gunicorn_workers, False, self.gunicorn_workers)

    def command(self, server: Server, port: int) -> list[str]:
        if server.name == "uvicorn":
            return [
                str(VENV_BIN / "uvicorn"),
                "demo.asgi:application",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--workers={server.workers}",
                "--loop=uvloop",
                "--http=httptools",
                "--lifespan=off",
                "--no-access-log",
                "--log-level=warning",
                "--timeout-graceful-shutdown=5",
            ]
        return [
            str(VENV_BIN / "gunicorn"),
            "demo.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={server.workers}",
            "--worker-class=sync",
            "--log-level=warning",
            "--graceful-timeout=5",
        ]

    def env(self, server: Server) -> dict[str, str]:
        if server.name == "uvicorn" and self.uvicorn_pool:
            return server_env(
                DATABASE,
                ROLE,
                DEMO_DB_POOL="1",
                LOAD_POOL_MAX_SIZE=str(int(self.pool["max_size"])),
                LOAD_POOL_TIMEOUT=str(self.pool["timeout"]),
            )
        if server.name == "uvicorn":  # the set-up: no pool, no persistent connection
            return server_env(DATABASE, ROLE, DEMO_DB_POOL="0", LOAD_CONN_MAX_AGE="0")
        return server_env(DATABASE, ROLE, DEMO_DB_POOL="0")

    def describe(self, server: Server) -> str:
        role = f"role {ROLE} (CONNECTION LIMIT {self.role_limit})"
        if server.name == "uvicorn":
            pool = ", ".join(f"{key}={value:g}" for key, value in self.pool.items())
            database = (
                f"psycopg pool ({pool}; CONN_MAX_AGE=0)"
                if self.uvicorn_pool
                else "no pool, CONN_MAX_AGE=0"
            )
            return (
                f"uvicorn {server.workers} workers (1 per core), uvloop, httptools, {database}, "
                f"{role}; {self.clients} list clients + {self.streams} streams"
            )
        return (
            f"gunicorn {server.workers} sync workers (2 x cores + 1), CONN_MAX_AGE=60, {role}; "
            f"{self.clients} list clients, no stream"
        )

    def budget(self) -> float:
        """Seconds one server's run may take before it is stopped."""
        opening = self.ramp + self.request_timeout
        return READY_TIMEOUT + 2 * opening + self.warmup + self.duration + 60


# --- A minimal HTTP/1.1 client -----------------------------------------------------------------


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time.

    Reads bodies framed by ``Content-Length``, chunked, or by the end of the connection.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.waiter: asyncio.Future[Response] | None = None
        self.head: tuple[int, dict[bytes, bytes]] | None = None
        self.body: list[bytes] = []
        self.need = 0  # body bytes still to come; CHUNKED; UNTIL_CLOSE

    CHUNKED, UNTIL_CLOSE = -1, -2

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] (uvloop's are not subclasses)

    def send(self, request: bytes, timeout: float) -> asyncio.Future[Response]:
        """The answer to ``request``; fails with ``TimeoutError`` after ``timeout`` seconds."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        self.waiter = waiter
        timer = loop.call_later(timeout, _fail, waiter, TimeoutError(f"no answer in {timeout} s"))
        waiter.add_done_callback(lambda _: timer.cancel())
        self.transport.write(request)
        return waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self._parse():
            pass

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head is not None and self.need == self.UNTIL_CLOSE:
            self.body.append(bytes(self.buffer))
            self._complete()
            return
        if self.waiter is not None:
            _fail(self.waiter, exc or ConnectionResetError("closed by the server"))

    def _parse(self) -> bool:
        """Consume what the buffer holds of the response; ``True`` to be called again."""
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            del self.buffer[: end + 4]
            status = int(lines[0][9:12])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            self.head = (status, headers)
            self.body = []
            if status in (204, 304) or 100 <= status < 200:
                self.need = 0
            elif b"content-length" in headers:
                self.need = int(headers[b"content-length"])
            elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                self.need = self.CHUNKED
            else:
                self.need = self.UNTIL_CLOSE
            self.on_head(status, headers)
        if self.need >= 0:
            if len(self.buffer) < self.need:
                return False
            self.body.append(bytes(self.buffer[: self.need]))
            del self.buffer[: self.need]
            self._complete()
            return bool(self.buffer)
        if self.need == self.CHUNKED:
            while True:
                line_end = self.buffer.find(b"\r\n")
                if line_end < 0:
                    return False
                size = int(bytes(self.buffer[:line_end]).split(b";")[0], 16)
                if size == 0:
                    if len(self.buffer) < line_end + 4:  # "0\r\n" then the final "\r\n"
                        return False
                    del self.buffer[: line_end + 4]
                    self._complete()
                    return bool(self.buffer)
                if len(self.buffer) < line_end + 2 + size + 2:
                    return False
                chunk = bytes(self.buffer[line_end + 2 : line_end + 2 + size])
                del self.buffer[: line_end + 2 + size + 2]
                self.on_chunk(chunk)
        return False  # UNTIL_CLOSE

    def on_head(self, status: int, headers: dict[bytes, bytes]) -> None:
        """The response's status line and headers are in."""

    def on_chunk(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def _complete(self) -> None:
        assert self.head is not None
        status, headers = self.head
        response = Response(status, headers, b"".join(self.body))
        self.head, self.body = None, []
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)


class StreamConnection(HttpConnection):
    """A ``text/event-stream`` held open: ``ready`` once it has said so, ``ended`` with why it
    ended (an event other than a keep-alive or ``changed``, or the connection closed)."""

    def __init__(self) -> None:
        super().__init__()
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.ended: asyncio.Future[str] = loop.create_future()
        self.events = bytearray()
        self.keepalives = 0

    def on_head(self, status: int, headers: dict[bytes, bytes]) -> None:
        content_type = headers.get(b"content-type", b"")
        if status != 200 or not content_type.startswith(b"text/event-stream"):
            self._end(f"HTTP {status}")

    def on_chunk(self, chunk: bytes) -> None:
        self.events += chunk
        while (end := self.events.find(b"\n\n")) >= 0:
            block = bytes(self.events[:end])
            del self.events[: end + 2]
            name = _event_name(block)
            if block.startswith(b":"):
                self.keepalives += 1
            elif name == "ready":
                if not self.ready.done():
                    self.ready.set_result(None)
            elif name is not None and name != "changed":
                self._end(f"event {name}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._end(f"closed ({type(exc).__name__})" if exc else "closed by the server")

    def _end(self, why: str) -> None:
        if not self.ended.done():
            self.ended.set_result(why)
        _fail(self.ready, ConnectionError(f"stream {why} before ready"))
        if self.transport is not None:
            self.transport.close()


def _fail(future: asyncio.Future[_T], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _event_name(block: bytes) -> str | None:
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip().decode()
    return None


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}" + (f" ({error})" if str(error) else "")


# --- The load ----------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass
class Load:
    """The clients and streams on one server, and what they saw."""

    config: Config
    port: int
    window: Stats | None = None
    errors: Counter[str] = field(default_factory=Counter)
    stopping: bool = False
    streams: list[StreamConnection] = field(default_factory=list)
    stream_opens: list[float] = field(default_factory=list)
    requests_total: int = 0

    def error(self, what: str) -> None:
        self.errors[what] += 1

    async def connect(self, factory: Callable[[], HttpConnection]) -> Any:
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(factory, "127.0.0.1", self.port), self.config.request_timeout
        )
        return protocol

    def request(self, path: str, session_key: str, extra: bytes = b"") -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Accept: application/json\r\nAccept-Language: en\r\n"
            f"Cookie: sessionid={session_key}\r\n"
        ).encode() + extra

    async def list_client(self, session_key: str, conditional: bool, delay: float) -> None:
        await asyncio.sleep(delay)
        base = self.request(LIST_PATH, session_key)
        timeout = self.config.request_timeout
        etag: bytes | None = None
        connection: HttpConnection | None = None
        try:
            while not self.stopping:
                validator = b"If-None-Match: " + etag + b"\r\n" if conditional and etag else b""
                started = time.perf_counter()
                try:
                    if connection is None or connection.closed:
                        connection = await self.connect(HttpConnection)
                    response = await connection.send(base + validator + b"\r\n", timeout)
                except OSError as error:  # ConnectionError and TimeoutError among them
                    if self.stopping:
                        return
                    self.error(f"list: {_describe(error)}")
                    if connection is not None:
                        connection.close()
                    connection = None
                    await asyncio.sleep(0.1)  # no busy loop against a server that refuses
                    continue
                elapsed = time.perf_counter() - started
                self.requests_total += 1
                status = response.status
                if status == 200:
                    etag = response.headers.get(b"etag")
                elif status != 304:
                    self.error(f"list: HTTP {status}")
                if self.window is not None:
                    self.window.latencies.append(elapsed)
                    self.window.statuses[status] += 1
                if response.headers.get(b"connection", b"").lower() == b"close":
                    connection = None  # the server closes it; the next request opens another
        finally:
            if connection is not None:
                connection.close()

    async def stream(self, session_key: str, delay: float) -> None:
        await asyncio.sleep(delay)
        started = time.perf_counter()
        connection: StreamConnection | None = None
        try:
            connection = await self.connect(StreamConnection)
            assert connection.transport is not None
            connection.transport.write(self.request(STREAM_PATH, session_key) + b"\r\n")
            await asyncio.wait_for(connection.ready, self.config.request_timeout)
        except OSError as error:
            self.error(f"stream: not opened: {_describe(error)}")
            if connection is not None:
                connection.close()
            return
        self.stream_opens.append(time.perf_counter() - started)
        self.streams.append(connection)
        why = await connection.ended
        if not self.stopping:
            self.error(f"stream: ended: {why}")

    def open_streams(self) -> int:
        return sum(1 for stream in self.streams if not stream.ended.done())


class ConnectionSampler(threading.Thread):
    """Counts the client backends of ``DATABASE`` every 100 ms, on a connection to another
    database: ``(monotonic time, all, LISTEN)``."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int, int]] = []
        self.stop = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(
                host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
            ) as conn:
                while not self.stop.is_set():
                    row = conn.execute(
                        """
                        SELECT count(*), count(*) FILTER (WHERE query LIKE 'LISTEN %%')
                        FROM pg_stat_activity
                        WHERE datname = %s AND backend_type = 'client backend'
                          AND pid <> pg_backend_pid()
                        """,
                        [DATABASE],
                    ).fetchone()
                    assert row is not None
                    self.samples.append((time.monotonic(), row[0], row[1]))
                    self.stop.wait(SAMPLE_CONNECTIONS_EVERY)
        except BaseException as error:  # reported by the run
            self.failure = error

    def maximum(self, since: float = 0.0, until: float = float("inf")) -> tuple[int, int]:
        """The most connections at once, and the most of them that were not ``LISTEN``."""
        chosen = [(total, listen) for at, total, listen in self.samples if since <= at <= until]
        return max((t for t, _ in chosen), default=0), max((t - x for t, x in chosen), default=0)


@dataclass
class Result:
    server: Server
    seconds: float
    stats: Stats
    errors: Counter[str]
    requests_total: int
    streams_open: int
    stream_opens: list[float]
    connections: tuple[int, int]  # over the whole run: all, outside LISTEN
    connections_window: tuple[int, int]
    samples: int
    server_cpu: float
    postgres_cpu: float
    client_cpu: float
    machine_busy: float

    @property
    def answered(self) -> int:
        return sum(self.stats.statuses.values())

    @property
    def cpu_per_request(self) -> float:
        """The server's CPU milliseconds per list answer in the window."""
        return 1000 * self.server_cpu / max(self.answered, 1)

    @property
    def over_limit(self) -> bool:
        all_, pooled = self.connections
        return all_ > self.server.limit or pooled > self.server.pooled_limit


async def wait_ready(
    load: Load, server: Server, process: subprocess.Popen[bytes], key: str
) -> None:
    """Wait for the server, then check one client's answers: its tasks, a 304, the Link."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise Failed(f"{server.name} exited with {process.returncode}")
        with contextlib.suppress(OSError):
            probe = await load.connect(HttpConnection)
            response = await probe.send(load.request(LIST_PATH, "none") + b"\r\n", 5)
            probe.close()
            if response.status in (401, 403):
                break
        if time.monotonic() > deadline:
            raise Failed(f"{server.name} not ready after {READY_TIMEOUT:g} s")
        await asyncio.sleep(0.2)
    connection = await load.connect(HttpConnection)
    response = await connection.send(load.request(LIST_PATH, key) + b"\r\n", 10)
    body = json.loads(response.body)
    if response.status != 200 or (body["count"], body["pending_count"]) != (TASKS_PER_PERSON, 0):
        raise Failed(f"{server.name}: unexpected first answer {response.status} {body}")
    linked = b'rel="osis-async-stream"' in response.headers.get(b"link", b"")
    if linked != (server.name == "uvicorn"):
        raise Failed(f"{server.name}: the list's stream Link is {'there' if linked else 'missing'}")
    if connection.closed or response.headers.get(b"connection", b"").lower() == b"close":
        connection = await load.connect(HttpConnection)
    etag = response.headers[b"etag"]
    again = await connection.send(
        load.request(LIST_PATH, key, b"If-None-Match: " + etag + b"\r\n") + b"\r\n", 10
    )
    connection.close()
    if again.status != 304:
        raise Failed(f"{server.name}: a conditional request got {again.status}, not 304")


class Failed(Exception):
    """The run cannot be measured."""


@contextlib.contextmanager
def sampling() -> Iterator[ConnectionSampler]:
    sampler = ConnectionSampler()
    sampler.start()
    try:
        yield sampler
    finally:
        sampler.stop.set()
        sampler.join(5)


async def run_server(
    server: Server, config: Config, sessions: list[str], postmaster: int
) -> Result:
    load = Load(config, free_port())
    list_keys = sessions[: config.clients]
    stream_keys = sessions[config.clients :] if server.streams else []
    tasks: list[asyncio.Task[None]] = []
    with (
        sampling() as sampler,
        serve(server.name, config.command(server, load.port), config.env(server)) as process,
    ):
        _watchdog.current = process
        try:
            await wait_ready(load, server, process, list_keys[0])
            begun = time.monotonic()
            # The streams first, held for the whole run: each from a session of its own.
            for index, key in enumerate(stream_keys):
                delay = index * config.ramp / len(stream_keys)
                tasks.append(asyncio.create_task(load.stream(key, delay)))
            while len(load.stream_opens) + sum(load.errors.values()) < len(stream_keys):
                if time.monotonic() > begun + config.ramp + config.request_timeout + 5:
                    break
                await asyncio.sleep(0.1)
            if stream_keys:
                print(
                    f"  {len(load.stream_opens)} of {len(stream_keys)} streams open after "
                    f"{time.monotonic() - begun:.1f} s",
                    flush=True,
                )
            for index, key in enumerate(list_keys):
                delay = index * config.ramp / len(list_keys)
                tasks.append(asyncio.create_task(load.list_client(key, index % 2 == 0, delay)))
            await asyncio.sleep(config.ramp + config.warmup)

            meters = {
                "server": server_tree_meter(process),
                "postgres": CpuMeter(Backends(postmaster, DATABASE)),
            }
            for meter in meters.values():
                meter.start()
            busy_first, total_first = machine_busy_ticks()
            client_first = client_cpu()
            load.window = Stats()
            started = time.monotonic()
            while (left := started + config.duration - time.monotonic()) > 0:
                await asyncio.sleep(min(SAMPLE_CPU_EVERY, left))
                for meter in meters.values():
                    meter.sample()
            ended = time.monotonic()
            stats, load.window = load.window, None
            cpu = {name: meter.stop() for name, meter in meters.items()}
            client_used = client_cpu() - client_first
            busy_last, total_last = machine_busy_ticks()
            streams_open = load.open_streams()
        finally:
            load.stopping = True
            for stream in load.streams:
                stream.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            _watchdog.current = None
    if sampler.failure is not None:
        raise Failed(f"counting connections failed: {_describe(sampler.failure)}")
    for what, count in load.errors.most_common():
        print(f"  error: {what} x {count}")
    return Result(
        server=server,
        seconds=ended - started,
        stats=stats,
        errors=load.errors,
        requests_total=load.requests_total,
        streams_open=streams_open,
        stream_opens=load.stream_opens,
        connections=sampler.maximum(),
        connections_window=sampler.maximum(started, ended),
        samples=len(sampler.samples),
        server_cpu=cpu["server"],
        postgres_cpu=cpu["postgres"],
        client_cpu=client_used,
        machine_busy=(busy_last - busy_first) / (total_last - total_first) * CORES,
    )


async def run_all(servers: list[Server], config: Config, sessions: list[str]) -> list[Result]:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    postmaster = postmaster_pid()
    results = []
    for server in servers:
        print(
            f"{server.name}: {config.describe(server)}; ramp {config.ramp:g} s, warm-up "
            f"{config.warmup:g} s, measuring {config.duration:g} s",
            flush=True,
        )
        try:
            async with asyncio.timeout(config.budget()):
                results.append(await run_server(server, config, sessions, postmaster))
        except TimeoutError:
            raise Failed(f"{server.name}: over its budget of {config.budget():g} s") from None
    return results


class _Watchdog:
    """Kills the server being measured and exits 2 if the whole run overruns its budget."""

    current: subprocess.Popen[bytes] | None = None

    def arm(self, seconds: float) -> None:
        timer = threading.Timer(seconds, self._fire, [seconds])
        timer.daemon = True
        timer.start()

    def _fire(self, seconds: float) -> None:
        print(f"watchdog: the run took more than {seconds:g} s; stopping", file=sys.stderr)
        if self.current is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.current.pid, signal.SIGKILL)
        os._exit(2)


_watchdog = _Watchdog()


# --- The report --------------------------------------------------------------------------------


def report(results: list[Result], config: Config) -> None:
    print()
    print(
        f"{config.clients} list clients (closed loop, keep-alive, one session each, half "
        f"conditional), {TASKS_PER_PERSON} finished tasks each, GET {LIST_PATH}; "
        f"{config.streams} streams under uvicorn; {CORES} cores, loopback"
    )
    print()
    header = (
        f"{'server':<9}{'requests':>9}{'rps':>8}{'304 %':>6}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'errors':>7}{'streams':>8}{'DB conns':>9}{'limit':>6}{'app CPU':>8}{'pg CPU':>7}"
        f"{'ms/req':>7}{'client':>7}{'busy':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.server.name:<9}{r.answered:>9}{r.answered / r.seconds:>8.0f}"
            f"{100 * r.stats.statuses[304] / max(r.answered, 1):>6.0f}"
            f"{quantile(r.stats.latencies, 0.5) * 1000:>8.1f}"
            f"{quantile(r.stats.latencies, 0.99) * 1000:>8.1f}"
            f"{sum(r.errors.values()):>7}"
            f"{_streams(r):>8}"
            f"{r.connections[0]:>9}{r.server.limit:>6}"
            f"{r.server_cpu / r.seconds:>8.2f}{r.postgres_cpu / r.seconds:>7.2f}"
            f"{r.cpu_per_request:>7.2f}{r.client_cpu / r.seconds:>7.2f}{r.machine_busy:>6.2f}"
        )
    print()
    print(
        "requests, rps, 304 %, p50/p99: list answers in the measured window; errors: over the "
        "whole run; streams: open at the window's end / opened; DB conns: most server "
        "connections to the database at once over the whole run (sampled every 100 ms); "
        "limit: workers x pool max_size (+1 LISTEN per worker with streams) for uvicorn, "
        "workers for gunicorn; app, pg CPU: cores used by the server's process tree and by "
        "the PostgreSQL backends serving the database; ms/req: the server's CPU ms per list "
        "answer; client: this script's cores; busy: the "
        f"whole machine's busy cores (of {CORES})."
    )
    print()
    for r in results:
        all_, pooled = r.connections
        opens = (
            f"; stream open p50 {quantile(r.stream_opens, 0.5) * 1000:.0f} ms, p99 "
            f"{quantile(r.stream_opens, 0.99) * 1000:.0f} ms"
            if r.stream_opens
            else ""
        )
        print(
            f"{r.server.name}: {r.requests_total} list requests in the whole run; DB "
            f"connections at most {all_} (limit {r.server.limit}), {pooled} outside LISTEN "
            f"(limit {r.server.pooled_limit}), {r.connections_window[0]} in the window, "
            f"{r.samples} samples{opens}"
        )
    print()
    print(
        "| server | requests | rps | 304 % | p50 ms | p99 ms | errors | streams open | max DB "
        "connections (limit) | server CPU (cores) | server CPU ms / request | PostgreSQL CPU "
        "(cores) | client CPU (cores) |"
    )
    print("| --- " + "| ---: " * 12 + "|")
    for r in results:
        print(
            f"| {r.server.name} | {r.answered:,} | {r.answered / r.seconds:,.0f} | "
            f"{100 * r.stats.statuses[304] / max(r.answered, 1):.0f} | "
            f"{quantile(r.stats.latencies, 0.5) * 1000:,.0f} | "
            f"{quantile(r.stats.latencies, 0.99) * 1000:,.0f} | {sum(r.errors.values())} | "
            f"{_streams(r) if r.server.streams else '–'} | "
            f"{r.connections[0]} ({r.server.limit}) | {r.server_cpu / r.seconds:.2f} | "
            f"{r.cpu_per_request:.1f} | {r.postgres_cpu / r.seconds:.2f} | "
            f"{r.client_cpu / r.seconds:.2f} |"
        )


def _streams(result: Result) -> str:
    if not result.server.streams:
        return "-"
    return f"{result.streams_open}/{len(result.stream_opens)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500, help="list clients (closed loop)")
    parser.add_argument("--streams", type=int, default=500, help="streams held under uvicorn")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after the ramp")
    parser.add_argument(
        "--ramp", type=float, default=2.0, help="seconds over which streams, then clients start"
    )
    parser.add_argument("--request-timeout", type=float, default=60.0)
    parser.add_argument("--servers", default="uvicorn,gunicorn", help="comma-separated, in order")
    parser.add_argument("--uvicorn-workers", type=int, default=CORES)
    parser.add_argument("--gunicorn-workers", type=int, default=2 * CORES + 1)
    parser.add_argument(
        "--pool-max-size", type=int, help="uvicorn's pool max_size per worker (the demo's)"
    )
    parser.add_argument(
        "--pool-timeout",
        type=float,
        help="seconds a request waits for a pool connection (the demo's)",
    )
    parser.add_argument(
        "--uvicorn-db",
        choices=("pool", "none"),
        default="pool",
        help="uvicorn's connections: the demo's pool, or none (CONN_MAX_AGE=0, no pool: the "
        "set-up of the issue, which opens one connection per concurrent request)",
    )
    parser.add_argument(
        "--role-limit",
        type=int,
        default=40,
        help="the CONNECTION LIMIT of the servers' role",
    )
    parser.add_argument("--hard-timeout", type=float, help="seconds for the whole run")
    args = parser.parse_args()
    servers_named = args.servers.split(",")
    if not set(servers_named) <= {"uvicorn", "gunicorn"}:
        parser.error("--servers takes uvicorn and gunicorn")
    if not 1 <= args.clients <= 5000 or not 0 <= args.streams <= 5000:
        parser.error("--clients must be within 1..5000 and --streams within 0..5000")
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be within 1..600")
    files = raise_fd_limit()
    needed = 2 * (args.clients + args.streams) + 100
    if files < needed:
        parser.error(f"the open-file limit is {files}; this run needs about {needed}")
    people = args.clients + args.streams
    print(f"seeding {DATABASE}: {people} users, sessions, {TASKS_PER_PERSON} tasks each")
    ensure_role(ROLE, args.role_limit)
    sessions = seed(DATABASE, people, prefix="load", owner=ROLE)
    from demo.settings import DATABASE_POOL  # with Django set up on the seeded database

    max_size = args.pool_max_size or int(DATABASE_POOL["max_size"])
    pool = {
        **DATABASE_POOL,
        "max_size": max_size,
        "min_size": min(DATABASE_POOL["min_size"], max_size),
        "timeout": args.pool_timeout or DATABASE_POOL["timeout"],
    }
    config = Config(
        clients=args.clients,
        streams=args.streams,
        duration=args.duration,
        warmup=args.warmup,
        ramp=args.ramp,
        request_timeout=args.request_timeout,
        uvicorn_workers=args.uvicorn_workers,
        gunicorn_workers=args.gunicorn_workers,
        pool=pool,
        uvicorn_pool=args.uvicorn_db == "pool",
        role_limit=args.role_limit,
    )
    servers = [config.server(name) for name in servers_named]
    for server in servers:
        if server.limit > config.role_limit:
            parser.error(
                f"{server.name} may hold {server.limit} connections, more than the role's "
                f"limit of {config.role_limit}: fewer workers or a smaller pool"
            )
    _watchdog.arm(args.hard_timeout or 60 + len(servers) * config.budget())
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            results = runner.run(run_all(servers, config, sessions))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: servers stopped", file=sys.stderr)
        sys.exit(130)
    except Failed as failure:
        print(f"failed: {failure}", file=sys.stderr)
        sys.exit(1)
    report(results, config)
    uvicorn = [r for r in results if r.server.name == "uvicorn"]
    failed = [r for r in uvicorn if sum(r.errors.values()) or r.over_limit]
    for r in uvicorn:
        print(
            f"\nuvicorn: {sum(r.errors.values())} errors, DB connections at most "
            f"{r.connections[0]} of {r.server.limit}: {'MISSED' if failed else 'OK'}"
        )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
