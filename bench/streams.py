"""Streams at scale: N open task streams on one uvicorn worker process, on PostgreSQL.

    .venv/bin/python bench/streams.py [--streams 10000] [--open-concurrency 200] [--idle 10]

Seeds a database of its own (``osis_async_streams``, dropped and recreated: one user, one session
and one task per stream), starts one uvicorn worker process (uvloop, httptools) with
``bench.streams_settings``, and opens N streams over loopback, each as a different person, with
at most ``--open-concurrency`` openings under way at once. Once every stream has had its
``ready`` event, it measures with the streams idle for ``--idle`` seconds (keep-alives and session
re-checks run meanwhile, every ``--keepalive`` seconds):

- the server's resident memory per stream: RSS with the N streams open, minus RSS after a warm-up
  with none open, over N;
- the server's threads, and the database connections it holds (``pg_stat_activity``);

then one ``UPDATE`` changes one task of every person, and it measures the time from that
statement's commit until every stream has received its ``changed`` event. The file descriptor
limit is raised to its hard limit in both processes. Prints the figures beside their targets and
exits 1 on any error (a stream refused, ended or missing its event) or a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DATABASE = os.environ.get("STREAMS_DATABASE", "osis_async_streams")
PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PGPORT", "5432"))
PG_USER = os.environ.get("PGUSER", "postgres")
SETTINGS = "bench.streams_settings"
STREAM_PATH = "/osis_async/tasks/stream/"

#: The targets of the issue this benchmark answers.
TARGET_RSS_PER_STREAM = 16 * 1024
TARGET_IDLE_CONNECTIONS = 2
TARGET_FANOUT_SECONDS = 1.0


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def seed(persons: int) -> list[str]:
    """A fresh database with ``persons`` users, each with a session and one task. Session keys."""
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')

    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["OSIS_ASYNC_BENCH_DB"] = DATABASE
    sys.path[:0] = [str(ROOT), str(ROOT / "src")]
    import django

    django.setup()
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    call_command("migrate", verbosity=0)
    User = get_user_model()
    password = make_password(None)
    users = User.objects.bulk_create(
        User(username=f"stream{i:05d}", password=password) for i in range(persons)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO osis_async_asynctask
                (uuid, name, description, state, person_id, progression, time_to_live,
                 traceback, created_at, updated_at, started_at)
            SELECT md5(u.id::text)::uuid, 'Export', 'Students', 'PROCESSING', u.id, 0, 60, '',
                   now(), now(), now()
            FROM auth_user AS u
            """
        )
        cursor.execute("ANALYZE")
    store = SessionStore()
    expires = timezone.now() + datetime.timedelta(days=1)
    sessions = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for user in users
    ]
    Session.objects.bulk_create(sessions, batch_size=2000)
    connection.close()
    return [session.session_key for session in sessions]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(
    port: int, keepalive: float, streams: int, served_by: str
) -> Iterator[subprocess.Popen[bytes]]:
    """One uvicorn worker process in a process group of its own, stopped on the way out."""
    command = [
        str(VENV_BIN / "python"),
        "-m",
        "uvicorn",
        "bench.streams_asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
        "--timeout-graceful-shutdown",
        "5",
    ]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "OSIS_ASYNC_BENCH_DB": DATABASE,
        "STREAMS_KEEPALIVE": str(keepalive),
        "STREAMS_PER_PROCESS": str(streams + 100),
        "STREAMS_SERVED_BY": served_by,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.seek(0)
        output = log.read().decode(errors="replace").strip()
        log.close()
        if output:
            print("  uvicorn said:\n    " + "\n    ".join(output.splitlines()[-20:]))


def status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(name)


def rss_bytes(pid: int) -> int:
    return status_field(pid, "VmRSS") * 1024


def threads(pid: int) -> int:
    return status_field(pid, "Threads")


def server_connections() -> int:
    """Database connections to the benchmark's database, other than this one."""
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [DATABASE],
        ).fetchone()
        assert row is not None
        return int(row[0])


@dataclass(eq=False)
class Stream(asyncio.Protocol):
    """One stream read over a raw socket: its status and when it saw each event."""

    request: bytes
    ready: asyncio.Future[None]
    status: int | None = None
    events: dict[str, float] = field(default_factory=dict)
    buffer: bytes = b""
    closed: bool = False
    transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (uvloop's is not a subclass)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        if self.status is None:
            if b"\r\n" not in self.buffer:
                return
            line = self.buffer.split(b"\r\n", 1)[0]
            try:
                self.status = int(line.split()[1])
            except (IndexError, ValueError):
                self.status = -1
            if self.status != 200 and not self.ready.done():
                self.ready.set_exception(RuntimeError(f"status {self.status}: {self.buffer!r}"))
        while b"\n\n" in self.buffer:
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            for line in block.splitlines():
                if line.startswith(b"event: "):
                    name = line[7:].decode()
                    self.events.setdefault(name, now)
                    if name == "ready" and not self.ready.done():
                        self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"closed before ready: {exc!r}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def request(port: int, session_key: str) -> bytes:
    return (
        f"GET {STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Accept: text/event-stream\r\nCookie: sessionid={session_key}\r\n\r\n"
    ).encode()


async def open_streams(port: int, sessions: list[str], concurrency: int) -> list[Stream]:
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(concurrency)
    streams: list[Stream] = []

    async def open_one(session_key: str) -> None:
        async with limit:
            stream = Stream(request(port, session_key), loop.create_future())
            streams.append(stream)
            await loop.create_connection(lambda: stream, "127.0.0.1", port)
            await asyncio.wait_for(stream.ready, 60)

    results = await asyncio.gather(*(open_one(key) for key in sessions), return_exceptions=True)
    errors = [result for result in results if isinstance(result, BaseException)]
    if errors:
        print(f"  {len(errors)} stream(s) failed to open; first: {errors[0]!r}")
    return streams


def change_every_persons_task() -> float:
    """One UPDATE of every person's task; the moment it committed (monotonic clock)."""
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=DATABASE, autocommit=True
    ) as conn:
        conn.execute(
            "UPDATE osis_async_asynctask SET progression = (progression + 1) % 100, "
            "updated_at = clock_timestamp()"
        )
        return time.monotonic()


@dataclass
class Result:
    served_by: str
    streams: int
    opened: int = 0
    open_seconds: float = 0.0
    rss_per_stream: float = 0.0
    rss_total: int = 0
    threads_before: int = 0
    threads_idle: int = 0
    connections: int = 0
    fanout: float = float("inf")
    median: float = float("inf")
    refused: int = 0
    ended: int = 0
    missed: int = 0

    @property
    def errors(self) -> int:
        return self.refused + self.ended + self.missed

    @property
    def meets_targets(self) -> bool:
        return (
            self.errors == 0
            and self.rss_per_stream <= TARGET_RSS_PER_STREAM
            and self.connections <= TARGET_IDLE_CONNECTIONS
            and self.fanout <= TARGET_FANOUT_SECONDS
        )


async def measure(args: argparse.Namespace, sessions: list[str], served_by: str) -> Result:
    result = Result(served_by, args.streams)
    port = free_port()
    with server(port, args.keepalive, args.streams, served_by) as process:
        await wait_listening(port, process)
        # Warm-up: open and close some streams so imports, caches and pools are in place.
        warm = await open_streams(port, sessions[: min(200, len(sessions))], args.open_concurrency)
        for stream in warm:
            stream.close()
        await asyncio.sleep(2)
        baseline_rss = rss_bytes(process.pid)
        result.threads_before = threads(process.pid)

        started = time.monotonic()
        streams = await open_streams(port, sessions, args.open_concurrency)
        opened = [s for s in streams if s.ready.done() and not s.ready.exception()]
        result.open_seconds = time.monotonic() - started
        result.opened = len(opened)
        result.refused = len(sessions) - len(opened)
        print(
            f"  {served_by}: opened {len(opened):,} of {len(sessions):,} streams in "
            f"{result.open_seconds:.1f} s ({len(opened) / result.open_seconds:.0f}/s)"
        )
        await asyncio.sleep(args.idle)
        result.rss_total = rss_bytes(process.pid) - baseline_rss
        result.rss_per_stream = result.rss_total / max(len(opened), 1)
        result.threads_idle = threads(process.pid)
        result.connections = await asyncio.to_thread(server_connections)
        result.ended = sum(1 for stream in opened if stream.closed)

        for stream in opened:
            stream.events.pop("changed", None)
        committed = await asyncio.to_thread(change_every_persons_task)
        deadline = committed + 10
        while time.monotonic() < deadline:
            if all("changed" in s.events or s.closed for s in opened):
                break
            await asyncio.sleep(0.01)
        arrivals = sorted(s.events["changed"] - committed for s in opened if "changed" in s.events)
        result.missed = len(opened) - len(arrivals)
        if arrivals:
            result.fanout = arrivals[-1]
            result.median = arrivals[len(arrivals) // 2]
        for stream in streams:
            stream.close()
    return result


def report(results: list[Result]) -> None:
    def verdict(ok: bool) -> str:
        return "" if ok else " (missed)"

    names = " | ".join(result.served_by for result in results)
    print()
    print(f"| what | {names} | target |")
    print("| --- |" + " ---: |" * len(results) + " ---: |")

    def row(what: str, cells: list[str], target: str) -> None:
        print(f"| {what} | {' | '.join(cells)} | {target} |")

    row("streams open on one worker", [f"{r.opened:,}" for r in results], f"{results[0].streams:,}")
    row("opened per second", [f"{r.opened / r.open_seconds:.0f}" for r in results], "")
    row(
        "RSS per stream",
        [
            f"{r.rss_per_stream / 1024:.1f} KB{verdict(r.rss_per_stream <= TARGET_RSS_PER_STREAM)}"
            for r in results
        ],
        f"≤ {TARGET_RSS_PER_STREAM // 1024} KB",
    )
    row(
        "server threads, before → idle",
        [f"{r.threads_before} → {r.threads_idle}" for r in results],
        "none per stream",
    )
    row(
        "database connections held, idle",
        [f"{r.connections}{verdict(r.connections <= TARGET_IDLE_CONNECTIONS)}" for r in results],
        f"≤ {TARGET_IDLE_CONNECTIONS}",
    )
    row(
        "one change on every stream: last, median",
        [
            f"{r.fanout * 1000:.0f} ms, {r.median * 1000:.0f} ms"
            f"{verdict(r.fanout <= TARGET_FANOUT_SECONDS)}"
            for r in results
        ],
        f"≤ {TARGET_FANOUT_SECONDS * 1000:.0f} ms",
    )
    row(
        "errors: refused, ended, missed",
        [f"{r.refused}, {r.ended}, {r.missed}{verdict(r.errors == 0)}" for r in results],
        "0",
    )


async def run(args: argparse.Namespace, sessions: list[str]) -> int:
    results = [await measure(args, sessions, served_by) for served_by in args.served_by]
    report(results)
    documented = results[0]
    return 0 if documented.meets_targets or args.streams < 10_000 else 1


async def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"uvicorn exited with {process.returncode}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise SystemExit("uvicorn did not start listening within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--open-concurrency", type=int, default=200)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--keepalive", type=float, default=5.0)
    parser.add_argument(
        "--served-by",
        default="serve_streams,django",
        type=lambda value: value.split(","),
        help="who serves the streams, in order: serve_streams (the documented set-up, "
        "whose figures decide the exit status), django (Django's own streaming response)",
    )
    args = parser.parse_args()
    limit = raise_fd_limit()
    if limit < args.streams + 100:
        raise SystemExit(f"The file descriptor hard limit ({limit}) is below {args.streams + 100}.")
    print(f"Seeding {args.streams:,} persons with a session and a task each...")
    sessions = seed(args.streams)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        sys.exit(runner.run(run(args, sessions)))


if __name__ == "__main__":
    main()
