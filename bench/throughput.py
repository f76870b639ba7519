"""Task tracking throughput (issue 4): what tracking costs a Celery worker, and what a job that
reports progress a million times writes.

    .venv/bin/python bench/throughput.py [--broker redis://127.0.0.1:6379/15] [--jobs 400]
                                         [--rounds 3] [--work-ms 10] [--concurrency 1]

1. The same job (``work_ms`` of CPU work, reporting its progress 10 times) runs through one
   Celery worker (prefork), enqueued alternately untracked (``delay()``) and tracked
   (``enqueue_for(person)``: a row, then PROCESSING, progress and DONE as it runs). The queue is
   filled before the worker starts; each job's cost is the time from its start to the next
   job's start (its work, its tracking writes, the worker's own overhead), so neither
   enqueueing nor the worker's start counts, and both variants see the same machine load.
   Medians over ``--rounds`` rounds of ``--jobs`` jobs of each variant.
2. The tracking's own CPU cost per job, without the database: an empty job run in this process
   with the row writes replaced by no-ops, with and without the tracking header.
3. One tracked job reports ``report(i, 1_000_000)`` a million times (run eagerly in this process,
   through the same signals and the same background writer); the row updates are counted: in a
   bare loop, and with 5 µs of work per report, with the default interval (0.5 s) and with none
   (only the whole-percent rule).

Needs PostgreSQL (``BENCH_PG*``, see bench/throughput_settings.py) and the broker.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for path in (str(REPO), str(REPO / "src")):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.throughput_settings")

if __name__ == "__main__":
    # Run as bench.throughput, the module the worker imports, so the task names match.
    from bench.throughput import main

    main()
    raise SystemExit(0)

import django  # noqa: E402

django.setup()

from celery import Celery, shared_task  # noqa: E402

from osis_async.integrations.celery import HEADER, progress, tracked_task  # noqa: E402

QUEUE = os.environ.get("BENCH_QUEUE", "osis-async-bench")

app = Celery("osis_async_bench", set_as_current=False)
app.conf.update(
    broker_url=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15"),
    broker_connection_retry_on_startup=True,
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_prefetch_multiplier=4,
)
app.set_current()


@tracked_task(name="Benchmark job", description="Spins the CPU.")
@shared_task(bind=True)
def spin(self: Any, work_ms: float, reports: int, log_path: str, variant: str) -> None:
    """``work_ms`` of CPU work in ``reports`` slices, reporting progress after each; appends
    its start time and ``variant`` to ``log_path``."""
    started = time.time()
    reporter = progress(self)
    slice_seconds = work_ms / 1000 / reports
    for done in range(1, reports + 1):
        until = time.perf_counter() + slice_seconds
        while time.perf_counter() < until:
            pass
        reporter.report(done, reports)
    with open(log_path, "a", encoding="ascii") as log:
        log.write(f"{started:.6f} {time.time():.6f} {variant}\n")


@tracked_task(name="Million reports", description="Reports its progress a million times.")
@shared_task(bind=True)
def million(self: Any, reports: int, work_us: float = 0.0) -> None:
    """Reports ``reports`` times, with ``work_us`` µs of CPU work between two reports."""
    reporter = progress(self)
    pause = work_us / 1e6
    for done in range(1, reports + 1):
        if pause:
            until = time.perf_counter() + pause
            while time.perf_counter() < until:
                pass
        reporter.report(done, reports)


# --- the orchestration ---------------------------------------------------------------------------


def ensure_database() -> None:
    import psycopg
    from django.conf import settings
    from django.core.management import call_command
    from psycopg import sql

    db = settings.DATABASES["default"]
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"]}
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if not exists.fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    call_command("migrate", verbosity=0)


def start_worker(
    concurrency: int, log_path: Path, hostname: str | None = None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "src")])
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.throughput",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(concurrency),
        "--queues",
        QUEUE,
        "--loglevel",
        "WARNING",
        "--without-mingle",
        "--without-gossip",
        *(["--hostname", hostname] if hostname else []),
    ]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def cpu_seconds(pid: int) -> float:
    """User and system CPU of process ``pid``, all its threads, in seconds (0 once gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(main_pid: int) -> list[int]:
    """The worker's main process and its pool's processes."""
    pids = [main_pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == main_pid:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def backend_pids() -> list[int]:
    """The PostgreSQL backends on the benchmark's database but this process's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


def cpu_snapshot(main_pid: int) -> dict[tuple[str, int], float]:
    snapshot = {("worker", pid): cpu_seconds(pid) for pid in worker_pids(main_pid)}
    snapshot.update({("postgres", pid): cpu_seconds(pid) for pid in backend_pids()})
    return snapshot


def cpu_used(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[str, float]:
    used = {"worker": 0.0, "postgres": 0.0}
    for key, seconds in after.items():
        used[key[0]] += seconds - before.get(key, 0.0)
    return used


def cpu_round(
    variant: str,
    jobs: int,
    work_ms: float,
    worker: subprocess.Popen[bytes],
    person: Any,
    workdir: Path,
    hostname: str,
) -> tuple[float, float, float]:
    """Queue ``jobs`` jobs of ``variant`` on a queue of their own, have the running worker take
    it, and wait until every job ran and (tracked) every row is DONE. Returns the CPU per job
    in ms of the worker's processes (every thread) and of the PostgreSQL backends, and the
    jobs per second from the first job's start to the last one's end."""
    from osis_async.models import AsyncTask

    queue = f"{QUEUE}-{uuid.uuid4().hex[:8]}"
    log_path = workdir / f"runs-{queue}.log"
    tracked = []
    for _ in range(jobs):
        if variant == "tracked":
            tracked.append(
                spin.apply_async_for(person, (work_ms, 10, str(log_path), variant), queue=queue)
            )
        else:
            spin.apply_async((work_ms, 10, str(log_path), variant), queue=queue)
    before = cpu_snapshot(worker.pid)
    app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=10)
    deadline = time.monotonic() + 60 + jobs * work_ms / 1000 * 20
    while True:
        lines = log_path.read_text().splitlines() if log_path.exists() else []
        done = len(lines) >= jobs and (
            not tracked or AsyncTask.objects.filter(uuid__in=tracked, state="DONE").count() == jobs
        )
        if done:
            break
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(
                f"The worker did not finish the {variant} round ({len(lines)}/{jobs})."
            )
        time.sleep(0.05)
    after = cpu_snapshot(worker.pid)
    app.control.cancel_consumer(queue, destination=[hostname], reply=True, timeout=10)
    used = cpu_used(before, after)
    runs = [line.split() for line in lines]
    span = max(float(run[1]) for run in runs) - min(float(run[0]) for run in runs)
    return used["worker"] / jobs * 1000, used["postgres"] / jobs * 1000, jobs / span


def side_by_side(
    jobs: int, rounds: int, work_ms: float, concurrency: int, person: Any, workdir: Path
) -> None:
    """Untracked and tracked rounds, alternately, through one prefork worker of
    ``concurrency`` processes; prints the medians and both ratios."""
    hostname = f"bench-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    worker = start_worker(concurrency, workdir / "worker.log", hostname=hostname)
    results: dict[str, list[tuple[float, float, float]]] = {"untracked": [], "tracked": []}
    try:
        wait_ready(hostname, worker)
        for variant in ("untracked", "tracked"):  # warm up: connections, imports
            cpu_round(variant, max(20, jobs // 10), work_ms, worker, person, workdir, hostname)
        for number in range(rounds):
            for variant in (
                ("untracked", "tracked") if number % 2 == 0 else ("tracked", "untracked")
            ):
                result = cpu_round(variant, jobs, work_ms, worker, person, workdir, hostname)
                results[variant].append(result)
                print(
                    f"  round {number + 1} {variant:>9}: worker {result[0]:.3f} ms/job, "
                    f"PostgreSQL {result[1]:.3f} ms/job, {result[2]:.1f} jobs/s",
                    flush=True,
                )
    finally:
        stop_worker(worker)
    medians = {
        variant: [statistics.median(values) for values in zip(*rows, strict=True)]
        for variant, rows in results.items()
    }
    print()
    print("| variant | CPU per job: worker (ms) | PostgreSQL (ms) | total (ms) | jobs/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for variant, (worker_ms, pg_ms, rate) in medians.items():
        print(
            f"| {variant} | {worker_ms:.3f} | {pg_ms:.3f} | {worker_ms + pg_ms:.3f} | {rate:.1f} |"
        )
    totals = {variant: values[0] + values[1] for variant, values in medians.items()}
    ratios = [
        (t[0] + t[1]) / (u[0] + u[1])
        for t, u in zip(results["tracked"], results["untracked"], strict=True)
    ]
    cpu_ratio = totals["tracked"] / totals["untracked"] - 1
    throughput_drop = 1 - medians["tracked"][2] / medians["untracked"][2]
    pair_drop = statistics.median(
        1 - t[2] / u[2] for t, u in zip(results["tracked"], results["untracked"], strict=True)
    )
    print(
        f"\nTracking costs {cpu_ratio:+.1%} CPU per job (medians; per round pair "
        f"{statistics.median(ratios) - 1:+.1%}); target: at most +5 %."
    )
    print(
        f"Throughput at concurrency {concurrency} with tracking: {-throughput_drop:+.1%} "
        f"(medians; per round pair {-pair_drop:+.1%}); target: at most -5 %."
    )


def wait_ready(hostname: str, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit("The worker exited at its start.")
        if app.control.ping(destination=[hostname], timeout=0.5):
            return
    raise SystemExit("The worker did not answer.")


def count_million_updates(person: Any, interval: float, work_us: float) -> tuple[int, float]:
    """Row updates and seconds of a tracked job reporting a million times (run eagerly here).

    Counts the ``update_task`` calls of the tracking, from every thread (the job's and the
    flusher's): each is one UPDATE statement.
    """
    from django.test import override_settings

    from osis_async.integrations.tracking import tracker as tracking
    from osis_async.models import AsyncTask

    eager = Celery("osis_async_bench_eager", set_as_current=False)
    eager.conf.update(task_always_eager=True, broker_url="memory://", task_ignore_result=True)
    real_update_task = tracking.update_task
    updates = 0

    def counting_update_task(*args: Any, **kwargs: Any) -> bool:
        nonlocal updates
        updates += 1
        return real_update_task(*args, **kwargs)

    previous = app
    eager.set_current()
    tracking.update_task = counting_update_task  # type: ignore[assignment]
    try:
        with override_settings(OSIS_ASYNC_PROGRESS_INTERVAL=interval):
            started = time.perf_counter()
            task_uuid = million.enqueue_for(person, 1_000_000, work_us)
            elapsed = time.perf_counter() - started
    finally:
        tracking.update_task = real_update_task
        previous.set_current()
    task = AsyncTask.objects.get(uuid=task_uuid)
    assert task.state == "DONE" and task.progression == 100, (task.state, task.progression)
    return updates, elapsed


def tracking_overhead(jobs: int, work_ms: float) -> tuple[float, float]:
    """Milliseconds per job run eagerly in this process, untracked and tracked, with the row
    writes replaced by no-ops: what the tracking costs in Python, without the database."""
    from osis_async.integrations.tracking import tracker as tracking

    eager = Celery("osis_async_bench_overhead", set_as_current=False)
    eager.conf.update(task_always_eager=True, broker_url="memory://", task_ignore_result=True)
    real_update_task = tracking.update_task
    previous = app
    eager.set_current()
    timings: dict[bool, float] = {False: math.inf, True: math.inf}
    try:
        with tempfile.NamedTemporaryFile(prefix="osis-async-ends-") as ends:
            for tracked in (False, True) * 4:
                started = time.perf_counter()
                if tracked:
                    tracking.update_task = lambda *args, **kwargs: True  # type: ignore[assignment]
                for _ in range(jobs):
                    # What a worker receives: with the header (tracked) or without.
                    task_id = str(uuid.uuid4())
                    header = {HEADER: {"uuid": task_id, "description": ""}} if tracked else {}
                    spin.apply(args=(work_ms, 10, ends.name, "x"), task_id=task_id, headers=header)
                tracking.update_task = real_update_task
                elapsed = (time.perf_counter() - started) / jobs * 1000
                timings[tracked] = min(timings[tracked], elapsed)
    finally:
        tracking.update_task = real_update_task
        previous.set_current()
    return timings[False], timings[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default=None, help="broker URL (BENCH_BROKER_URL)")
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--cost-only", action="store_true", help="only the side-by-side CPU and throughput"
    )
    args = parser.parse_args()
    if args.broker:
        os.environ["BENCH_BROKER_URL"] = args.broker
        app.conf.broker_url = args.broker

    from django.conf import settings
    from django.contrib.auth import get_user_model

    from osis_async.models import AsyncTask

    ensure_database()
    AsyncTask.objects.all().delete()
    person, _ = get_user_model().objects.get_or_create(username="bench")
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)

    db = settings.DATABASES["default"]
    print(
        f"Broker {app.conf.broker_url}, PostgreSQL {db['HOST']}:{db['PORT']}/{db['NAME']} "
        f"(worker CONN_MAX_AGE={db['CONN_MAX_AGE']}), prefork worker x{args.concurrency}, "
        f"{os.cpu_count()} CPUs."
    )
    print(
        f"Job: {args.work_ms:g} ms of CPU work, 10 progress reports. {args.jobs} jobs per round, "
        f"{args.rounds} rounds per variant (alternating). CPU counted: every thread of the "
        "worker's processes and the PostgreSQL backends serving them.\n"
    )
    with tempfile.TemporaryDirectory(prefix="osis-async-bench-") as tmp:
        side_by_side(args.jobs, args.rounds, args.work_ms, args.concurrency, person, Path(tmp))

    if args.cost_only:
        return
    untracked_ms, tracked_ms = tracking_overhead(300, 0.0)
    print(
        f"\nAn empty job run in this process, without the row writes (CPU only): "
        f"{untracked_ms:.3f} ms untracked, {tracked_ms:.3f} ms tracked: "
        f"{(tracked_ms - untracked_ms) * 1000:.0f} µs "
        "of tracking per job, besides its one UPDATE (and the INSERT made by enqueue_for)."
    )
    print(
        "\n| one tracked job reporting progress 1,000,000 times | duration | row updates "
        "(start + progress + final) |"
    )
    print("| --- | ---: | ---: |")
    for work_us, interval in ((0.0, 0.5), (5.0, 0.5), (5.0, 0.0)):
        updates, elapsed = count_million_updates(person, interval, work_us)
        what = "a bare loop" if not work_us else f"{work_us:g} µs of work per report"
        print(
            f"| {what}, OSIS_ASYNC_PROGRESS_INTERVAL = {interval:g} s | {elapsed:.1f} s "
            f"| {updates} |"
        )


if __name__ == "__main__":
    main()
