"""Load profile: N idle widgets against the demo under production servers on PostgreSQL.

    .venv/bin/python bench/load_profile.py [--widgets 200] [--compression 60] [--duration 60]
        [--warmup 10] [--modes plain,conditional,stream,stream+poll]

Seeds a database of its own (``osis_async_load``, dropped and recreated: one user, one session
and 20 finished tasks per widget), then for each mode starts a server on 127.0.0.1, opens the
widgets with their start times spread over one poll interval, waits until each has had its first
answer (and stream), lets them run a warm-up, measures a window, and stops everything. Modes:

- ``plain``: the contract's widget, ``GET tasks/?limit=15`` every interval, no validator
  (gunicorn, WSGI);
- ``conditional``: the same with ``If-None-Match`` (gunicorn);
- ``stream``: one ``tasks/stream/`` per widget, held open; one conditional list request on each
  ``ready`` (and ``changed``), no other polling: what the widget does (uvicorn, ASGI);
- ``stream+poll``: the stream as above plus a conditional poll every interval while it is open,
  what the widget did before it stopped polling while its stream is live, for comparison
  (uvicorn).

The widgets are idle (every task finished, nothing changes), so their interval is the
widget's ``data-interval`` default, 300 s. Time is compressed by K (``--compression``): every
per-widget period, on the client and on the server, is divided by K (interval 300 s, stream
keep-alive 50 s, stream max age 21,600 s, reconnect delay 2 s), so the run stands for N x K
widgets at the real rhythm. Per-process periods (``CONN_MAX_AGE``, worker heartbeats) are not
compressed. CPU is reported per 1,000 widget-minutes of real time. Each request opens its own
connection: real intervals are far longer than any server's keep-alive timeout.

Servers: gunicorn with 2 x cores + 1 sync workers and the demo's ``CONN_MAX_AGE = 60``; uvicorn
with one worker per core, uvloop and httptools, ``serve_streams`` as documented, and
psycopg's connection pool (``--asgi-db persistent`` for the demo's persistent connections).

Exits 1 if any request failed (a status other than 200/304, a transport error, a stream that
ended other than with ``reconnect``).
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
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as bench/load_profile.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.loadkit import (  # noqa: E402
    CORES,
    TASKS_PER_PERSON,
    VENV_BIN,
    Backends,
    CpuMeter,
    client_cpu,
    free_port,
    machine_busy_ticks,
    postmaster_pid,
    quantile,
    raise_fd_limit,
    seed,
    serve,
    server_env,
    server_tree_meter,
    tree,
)

DATABASE = os.environ.get("LOAD_DATABASE", "osis_async_load")

LIST_PATH = "/osis_async/tasks/?limit=15"
STREAM_PATH = "/osis_async/tasks/stream/"

# The real widget's periods, in seconds (frontend/src/mount.ts, taskStream.ts; conf.py).
REAL_INTERVAL = 300.0  # data-interval default: no task pending or processing
REAL_KEEPALIVE = 50.0  # OSIS_ASYNC_STREAM_KEEPALIVE
REAL_MAX_AGE = 21600.0  # OSIS_ASYNC_STREAM_MAX_AGE
REAL_RECONNECT_AFTER_END = 2.0  # RECONNECT_AFTER_END, after the server's ``reconnect``
REAL_RECONNECT_BASE, REAL_RECONNECT_MAX = 1.0, 60.0  # back-off after a failed stream

SAMPLE_EVERY = 0.5  # seconds between two looks at the processes' CPU
IDLE_SETTLE, IDLE_MEASURE = 3.0, 3.0  # seconds: the server alone, before the widgets
SETTLE_TIMEOUT = 120.0  # seconds for every widget to get through its first load


@dataclass(frozen=True)
class Mode:
    name: str
    server: str
    conditional: bool
    stream: bool = False
    poll_while_live: bool = False


MODES = {
    mode.name: mode
    for mode in (
        Mode("plain", "gunicorn", conditional=False),
        Mode("conditional", "gunicorn", conditional=True),
        Mode("stream", "uvicorn", conditional=True, stream=True),
        Mode("stream+poll", "uvicorn", conditional=True, stream=True, poll_while_live=True),
    )
}


@dataclass(frozen=True)
class Config:
    widgets: int
    compression: float
    duration: float
    warmup: float
    gunicorn_workers: int
    uvicorn_workers: int
    asgi_pool: bool

    @property
    def interval(self) -> float:
        return REAL_INTERVAL / self.compression

    def scaled(self, seconds: float) -> float:
        """A period of the real widget or server, compressed as run here."""
        return seconds / self.compression

    def gunicorn(self, port: int) -> list[str]:
        return [
            str(VENV_BIN / "gunicorn"),
            "demo.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={self.gunicorn_workers}",
            "--worker-class=sync",
            "--log-level=warning",
            "--graceful-timeout=5",
        ]

    def uvicorn(self, port: int) -> list[str]:
        return [
            str(VENV_BIN / "uvicorn"),
            "bench.load_asgi:application",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--workers={self.uvicorn_workers}",
            "--loop=uvloop",
            "--http=httptools",
            "--lifespan=off",
            "--no-access-log",
            "--log-level=warning",
            "--timeout-graceful-shutdown=5",
        ]

    def describe(self, server: str) -> str:
        if server == "gunicorn":
            return (
                f"gunicorn {self.gunicorn_workers} sync workers (2 x cores + 1), "
                "CONN_MAX_AGE=60 (the demo's)"
            )
        database = "psycopg pool (CONN_MAX_AGE=0)" if self.asgi_pool else "CONN_MAX_AGE=60"
        return f"uvicorn {self.uvicorn_workers} workers (1 per core), uvloop, httptools, {database}"


# --- The widgets -------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    opens: list[float] = field(default_factory=list)
    keepalives: int = 0


@dataclass
class Run:
    """What the widgets report: ``window`` while the measured window is open, errors always."""

    config: Config
    window: Stats | None = None
    errors: Counter[str] = field(default_factory=Counter)
    #: Widgets through their first load (and, with the stream, its first ``ready``).
    settled: int = 0

    def error(self, what: str) -> None:
        self.errors[what] += 1


class Widget:
    """One open widget: its session, its last ETag, and the rhythm of ``frontend/src``."""

    def __init__(self, run: Run, client: httpx.AsyncClient, session_key: str) -> None:
        self.run = run
        self.client = client
        self.headers = {"Cookie": f"sessionid={session_key}"}
        self.etag: str | None = None
        self.last_refresh = 0.0
        self.opened = False
        #: The list version the stream last announced (the widget keeps it the same way).
        self.version: str | None = None

    async def refresh(self, conditional: bool) -> None:
        headers = dict(self.headers)
        if conditional and self.etag:
            headers["If-None-Match"] = self.etag
        self.last_refresh = time.monotonic()
        started = time.perf_counter()
        try:
            response = await self.client.get(LIST_PATH, headers=headers)
        except httpx.HTTPError as error:
            self.run.error(f"list: {type(error).__name__}")
            return
        elapsed = time.perf_counter() - started
        if response.status_code == 200:
            self.etag = response.headers.get("ETag")
        elif response.status_code != 304:
            self.run.error(f"list: HTTP {response.status_code}")
        if self.run.window is not None:
            self.run.window.latencies.append(elapsed)
            self.run.window.statuses[response.status_code] += 1

    async def poll(self, conditional: bool) -> None:
        await self.refresh(conditional)
        self.run.settled += 1
        await self._poll_timer(conditional)

    async def follow(self, poll_while_live: bool) -> None:
        config = self.run.config
        await self.refresh(conditional=True)  # the first read, which finds the stream's Link
        poller = asyncio.create_task(self._poll_timer()) if poll_while_live else None
        failures = 0
        try:
            while True:
                if await self._stream():
                    failures = 0
                    await asyncio.sleep(config.scaled(REAL_RECONNECT_AFTER_END))
                else:
                    delay = min(REAL_RECONNECT_BASE * 2**failures, REAL_RECONNECT_MAX)
                    failures += 1
                    await asyncio.sleep(config.scaled(delay))
        finally:
            if poller is not None:
                poller.cancel()

    async def _poll_timer(self, conditional: bool = True) -> None:
        """A poll ``interval`` after the last refresh, whatever caused it.

        The widget waits ``interval`` after each answer; here it runs from each request's start,
        because latency is not compressed: at the real 300 s the two are the same.
        """
        while True:
            due = self.last_refresh + self.run.config.interval - time.monotonic()
            if due > 0:
                await asyncio.sleep(due)
            else:
                await self.refresh(conditional)

    async def _stream(self) -> bool:
        """One stream, until it ends: ``True`` if the server ended it with ``reconnect``."""
        started = time.perf_counter()
        try:
            async with self.client.stream("GET", STREAM_PATH, headers=self.headers) as response:
                if response.status_code != 200:
                    self.run.error(f"stream: HTTP {response.status_code}")
                    return False
                buffer = b""
                async for chunk in response.aiter_raw():
                    buffer += chunk
                    while (end := buffer.find(b"\n\n")) >= 0:
                        block, buffer = buffer[:end], buffer[end + 2 :]
                        if block.startswith(b":"):
                            if self.run.window is not None:
                                self.run.window.keepalives += 1
                            continue
                        event = _event_name(block)
                        if event == "ready":
                            if self.run.window is not None:
                                self.run.window.opens.append(time.perf_counter() - started)
                            # As the widget: a reopening that finds the list's version unchanged
                            # needs no refresh.
                            version = _event_version(block)
                            if version is None or version != self.version:
                                self.version = version
                                await self.refresh(conditional=True)
                            if not self.opened:
                                self.opened = True
                                self.run.settled += 1
                        elif event == "changed":
                            self.version = _event_version(block)
                            await self.refresh(conditional=True)
                        elif event == "reconnect":
                            return True
                        elif event is not None:
                            self.run.error(f"stream: {event}")
                            return False
        except httpx.HTTPError as error:
            self.run.error(f"stream: {type(error).__name__}")
            return False
        self.run.error("stream: closed without reconnect")
        return False


def _event_version(block: bytes) -> str | None:
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            version = json.loads(line[5:]).get("version")
            return version if isinstance(version, str) else None
    return None


def _event_name(block: bytes) -> str | None:
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip().decode()
    return None


# --- One mode ----------------------------------------------------------------------------------


@dataclass
class Result:
    mode: Mode
    seconds: float
    stats: Stats
    errors: int
    server_cpu: float
    postgres_cpu: float
    postgres_all_cpu: float
    client_cpu: float
    idle_server: float  # the server's CPU s per s with no widget, before them
    settled_after: float  # seconds until every widget was through its first load
    machine_busy: float  # cores busy on average

    def per_thousand(self, config: Config, cpu: float) -> float:
        """CPU seconds per 1,000 widget-minutes of real time."""
        return cpu / (config.widgets * self.seconds / 60 * config.compression) * 1000


@contextlib.contextmanager
def server(mode: Mode, config: Config, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The mode's server in a process group of its own, stopped (then killed) on the way out."""
    command = config.gunicorn(port) if mode.server == "gunicorn" else config.uvicorn(port)
    env = server_env(
        DATABASE,
        LOAD_STREAM_KEEPALIVE=str(config.scaled(REAL_KEEPALIVE)),
        LOAD_STREAM_MAX_AGE=str(config.scaled(REAL_MAX_AGE)),
        DEMO_DB_POOL="1" if mode.server == "uvicorn" and config.asgi_pool else "0",
    )
    with serve(mode.server, command, env) as process:
        yield process


async def wait_ready(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], session_key: str, mode: Mode
) -> None:
    """Wait for the server, then check one widget's answers: its tasks, 304, the stream's Link."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{mode.server} exited with {process.returncode}")
        try:
            response = await client.get(LIST_PATH)
            if response.status_code in (401, 403):
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{mode.server} not ready after 60 s")
        await asyncio.sleep(0.2)
    cookie = {"Cookie": f"sessionid={session_key}"}
    response = await client.get(LIST_PATH, headers=cookie)
    body = response.json()
    assert response.status_code == 200, response.status_code
    assert (body["count"], body["pending_count"]) == (TASKS_PER_PERSON, 0), body
    assert ('rel="osis-async-stream"' in response.headers.get("Link", "")) == mode.stream
    again = await client.get(
        LIST_PATH, headers={**cookie, "If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304, again.status_code


async def run_mode(mode: Mode, config: Config, sessions: list[str], postmaster: int) -> Result:
    port = free_port()
    run = Run(config)
    with server(mode, config, port) as process:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
            timeout=30.0,
            trust_env=False,
        ) as client:
            await wait_ready(client, process, sessions[0], mode)
            await asyncio.sleep(IDLE_SETTLE)  # every worker booted
            idle = server_tree_meter(process)
            idle.start()
            await asyncio.sleep(IDLE_MEASURE)
            idle_cpu = idle.stop() / IDLE_MEASURE
            tasks: list[asyncio.Task[None]] = []
            begun = time.monotonic()
            for index, session_key in enumerate(sessions):
                widget = Widget(run, client, session_key)
                coroutine = (
                    widget.follow(mode.poll_while_live)
                    if mode.stream
                    else widget.poll(mode.conditional)
                )
                tasks.append(
                    asyncio.create_task(_after(index * config.interval / len(sessions), coroutine))
                )
            try:
                # Warm-up: every widget through its first load, then ``warmup`` seconds more.
                deadline = time.monotonic() + SETTLE_TIMEOUT
                while run.settled < len(sessions):
                    if time.monotonic() > deadline:
                        _print_errors(run)
                        raise Failed(
                            f"{mode.name}: {run.settled} of {len(sessions)} widgets had their "
                            f"first answer{' and stream' if mode.stream else ''} within "
                            f"{SETTLE_TIMEOUT:g} s"
                        )
                    await asyncio.sleep(0.1)
                settled_after = time.monotonic() - begun
                await asyncio.sleep(config.warmup)
                meters = {
                    "server": server_tree_meter(process),
                    "postgres": CpuMeter(Backends(postmaster, DATABASE)),
                    "postgres_all": CpuMeter(lambda: list(tree(postmaster)), reaped=postmaster),
                }
                for meter in meters.values():
                    meter.start()
                busy_first, total_first = machine_busy_ticks()
                client_first = client_cpu()
                run.window = Stats()
                started = time.monotonic()
                while (left := started + config.duration - time.monotonic()) > 0:
                    await asyncio.sleep(min(SAMPLE_EVERY, left))
                    for meter in meters.values():
                        meter.sample()
                seconds = time.monotonic() - started
                stats, run.window = run.window, None
                cpu = {name: meter.stop() for name, meter in meters.items()}
                busy_last, total_last = machine_busy_ticks()
                client_used = client_cpu() - client_first
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    _print_errors(run)
    return Result(
        mode=mode,
        seconds=seconds,
        stats=stats,
        errors=sum(run.errors.values()),
        server_cpu=cpu["server"],
        postgres_cpu=cpu["postgres"],
        postgres_all_cpu=cpu["postgres_all"],
        client_cpu=client_used,
        idle_server=idle_cpu,
        settled_after=settled_after,
        machine_busy=(busy_last - busy_first) / (total_last - total_first) * CORES,
    )


class Failed(Exception):
    """The run cannot be measured."""


def _print_errors(run: Run) -> None:
    for what, count in run.errors.most_common():
        print(f"  error: {what} x {count}")


async def _after(delay: float, coroutine: Coroutine[Any, Any, None]) -> None:
    await asyncio.sleep(delay)
    await coroutine


async def run_all(modes: list[Mode], config: Config, sessions: list[str]) -> list[Result]:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    postmaster = postmaster_pid()
    results = []
    for mode in modes:
        print(
            f"{mode.name}: {config.describe(mode.server)}; warm-up {config.warmup:g} s, "
            f"measuring {config.duration:g} s",
            flush=True,
        )
        budget = 60 + IDLE_SETTLE + IDLE_MEASURE + SETTLE_TIMEOUT + config.warmup + config.duration
        async with asyncio.timeout(budget + 60):
            results.append(await run_mode(mode, config, sessions, postmaster))
    return results


# --- The report --------------------------------------------------------------------------------


def report(results: list[Result], config: Config) -> None:
    n, k = config.widgets, config.compression
    print()
    print(
        f"{n} idle widgets ({TASKS_PER_PERSON} finished tasks each), time compressed {k:g}x: "
        f"interval {REAL_INTERVAL:g} s -> {config.interval:g} s, keep-alive "
        f"{REAL_KEEPALIVE:g} s -> {config.scaled(REAL_KEEPALIVE):g} s, stream max age "
        f"{REAL_MAX_AGE:g} s -> {config.scaled(REAL_MAX_AGE):g} s; {CORES} cores, loopback"
    )
    print(
        f"nominal rates: polls {n / config.interval:g} list/s; stream "
        f"{n / config.scaled(REAL_MAX_AGE):.2f} opens/s and list/s, "
        f"{n / config.scaled(REAL_KEEPALIVE):g} keep-alives/s; stream+poll adds the polls"
    )
    print(
        "CPU s / 1,000 widget-minutes (real time) = measured CPU s / "
        f"(N x window minutes x K) x 1000 = CPU / ({n} x window/60 x {k:g}) x 1000"
    )
    print()
    header = (
        f"{'mode':<12} {'server':<9}{'list/s':>7}{'304 %':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'opens/s':>8}{'open p50':>9}{'open p99':>9}{'ka/s':>7}{'errors':>7}"
        f"{'app CPU':>9}{'pg CPU':>8}{'total':>8}{'plain/x':>8}"
    )
    print(header)
    print("-" * len(header))
    plain = next((r for r in results if r.mode.name == "plain"), None)

    def total(result: Result) -> float:
        return result.per_thousand(config, result.server_cpu + result.postgres_cpu)

    for result in results:
        stats, seconds = result.stats, result.seconds
        answered = sum(stats.statuses.values())
        ratio = total(plain) / total(result) if plain is not None else float("nan")
        print(
            f"{result.mode.name:<12} {result.mode.server:<9}{answered / seconds:>7.1f}"
            f"{100 * stats.statuses[304] / max(answered, 1):>7.0f}"
            f"{quantile(stats.latencies, 0.5) * 1000:>8.1f}"
            f"{quantile(stats.latencies, 0.99) * 1000:>8.1f}"
            f"{len(stats.opens) / seconds:>8.2f}"
            f"{quantile(stats.opens, 0.5) * 1000:>9.1f}{quantile(stats.opens, 0.99) * 1000:>9.1f}"
            f"{stats.keepalives / seconds:>7.0f}{result.errors:>7}"
            f"{result.per_thousand(config, result.server_cpu):>9.3f}"
            f"{result.per_thousand(config, result.postgres_cpu):>8.3f}"
            f"{total(result):>8.3f}{ratio:>7.1f}x"
        )
    print()
    print(
        "list/s: list requests answered per second (200 or 304); p50/p99: their latency; opens/s, "
        "open p50/p99: streams opened and the time to their `ready`; ka/s: keep-alives read; "
        "app/pg CPU: CPU s per 1,000 real widget-minutes of the server's process tree and of the "
        f"PostgreSQL backends serving {DATABASE}; plain/x: plain's total over this mode's."
    )
    print()
    print(
        f"{'mode':<12}{'window s':>9}{'app CPU s':>10}{'pg CPU s':>9}{'pg all s':>9}"
        f"{'client s':>9}{'client %':>9}{'idle app %':>11}{'busy cores':>11}{'settled s':>10}"
    )
    for result in results:
        print(
            f"{result.mode.name:<12}{result.seconds:>9.1f}{result.server_cpu:>10.2f}"
            f"{result.postgres_cpu:>9.2f}{result.postgres_all_cpu:>9.2f}{result.client_cpu:>9.2f}"
            f"{100 * result.client_cpu / result.seconds:>8.0f}%"
            f"{100 * result.idle_server:>10.1f}%{result.machine_busy:>11.2f}"
            f"{result.settled_after:>10.1f}"
        )
    print(
        "measured in the window: pg all = every PostgreSQL process on the machine (other users "
        "of the server included); client % = this script's CPU as a share of one core; idle "
        f"app % = the server's CPU with no widget open, before them; busy cores = the whole "
        f"machine's average (of {CORES}); settled s = seconds until every widget had its first "
        "answer (and stream), after which the warm-up ran."
    )
    if plain is None:
        return
    print()
    for result in results:
        if result is plain:
            continue
        ratio = total(plain) / total(result)
        app_ratio = plain.server_cpu / result.server_cpu if result.server_cpu else float("inf")
        print(
            f"plain / {result.mode.name}: {ratio:.1f}x server-side CPU (app {app_ratio:.1f}x); "
            f"target >= 5x: {'OK' if ratio >= 5 else 'MISSED'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widgets", type=int, default=200, help="open widgets (N)")
    parser.add_argument("--compression", type=float, default=60.0, help="time compression (K)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds per mode")
    parser.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds between the last widget's first load and the measured window",
    )
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--gunicorn-workers", type=int, default=2 * CORES + 1)
    parser.add_argument("--uvicorn-workers", type=int, default=CORES)
    parser.add_argument(
        "--asgi-db",
        choices=("pool", "persistent"),
        default="pool",
        help="uvicorn's connections: psycopg's pool (Django's advice under ASGI) or the demo's "
        "CONN_MAX_AGE=60, which keeps one connection per open stream",
    )
    args = parser.parse_args()
    config = Config(
        widgets=args.widgets,
        compression=args.compression,
        duration=args.duration,
        warmup=args.warmup,
        gunicorn_workers=args.gunicorn_workers,
        uvicorn_workers=args.uvicorn_workers,
        asgi_pool=args.asgi_db == "pool",
    )
    modes = [MODES[name] for name in args.modes.split(",")]
    if not 1 <= config.widgets <= 5000 or not 1 <= config.duration <= 900:
        parser.error("--widgets must be within 1..5000 and --duration within 1..900")
    cycle = config.scaled(REAL_MAX_AGE)
    if (
        any(mode.stream for mode in modes)
        and abs(config.duration / cycle - round(config.duration / cycle)) > 0.01
    ):
        print(
            f"note: --duration is not a multiple of the compressed stream max age ({cycle:g} s): "
            "the window holds a share of the streams' reconnections that is not N per max age"
        )

    raise_fd_limit()
    print(f"seeding {DATABASE}: {config.widgets} users, sessions, {TASKS_PER_PERSON} tasks each")
    sessions = seed(DATABASE, config.widgets)
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            results = runner.run(run_all(modes, config, sessions))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: servers stopped", file=sys.stderr)
        sys.exit(130)
    except Failed as failure:
        print(f"failed: {failure}", file=sys.stderr)
        sys.exit(1)
    report(results, config)
    if any(result.errors for result in results):
        print("errors: see above")
        sys.exit(1)


if __name__ == "__main__":
    main()
