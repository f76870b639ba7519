"""Task tracking throughput (issue 4): what tracking costs a Celery worker, and what a job that
reports progress a million times writes.

    .venv/bin/python bench/throughput.py [--broker redis://127.0.0.1:6379/15] [--jobs 400]
                                         [--rounds 3] [--work-ms 10] [--concurrency 1]

1. The same job (``work_ms`` of CPU work, reporting its progress 10 times) runs through one
   Celery worker (prefork), ``--jobs`` at a time, alternately enqueued untracked (``delay()``)
   and tracked (``enqueue_for(person)``: a row, PROCESSING, progress, DONE). The queue is
   filled before the worker starts; jobs per second are measured between the first and the last
   job's end, so neither enqueueing nor the worker's start counts. Best and median of
   ``--rounds`` rounds.
2. One tracked job reports ``report(i, 1_000_000)`` a million times (run eagerly in this process,
   through the same signals); the UPDATEs of the task's row are counted, with the default
   interval (0.5 s) and with none (only the whole-percent rule).

Needs PostgreSQL (``BENCH_PG*``, see bench/throughput_settings.py) and the broker.
"""

from __future__ import annotations

import argparse
import os
import signal
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

from osis_async.integrations.celery import progress, tracked_task  # noqa: E402

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
def spin(self: Any, work_ms: float, reports: int, ends: str) -> None:
    """``work_ms`` of CPU work in ``reports`` slices, reporting progress after each."""
    reporter = progress(self)
    slice_seconds = work_ms / 1000 / reports
    for done in range(1, reports + 1):
        until = time.perf_counter() + slice_seconds
        while time.perf_counter() < until:
            pass
        reporter.report(done, reports)
    with open(ends, "a", encoding="ascii") as log:
        log.write(f"{time.time():.6f}\n")


@tracked_task(name="Million reports", description="Reports its progress a million times.")
@shared_task(bind=True)
def million(self: Any, reports: int) -> None:
    reporter = progress(self)
    for done in range(1, reports + 1):
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


def start_worker(concurrency: int, log_path: Path) -> subprocess.Popen[bytes]:
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


def run_round(
    tracked: bool, jobs: int, work_ms: float, concurrency: int, person: Any, workdir: Path
) -> float:
    """Fill the queue with ``jobs`` jobs, then start a worker; return its jobs per second."""
    ends = workdir / f"ends-{uuid.uuid4().hex}.log"
    for _ in range(jobs):
        if tracked:
            spin.enqueue_for(person, work_ms, 10, str(ends))
        else:
            spin.delay(work_ms, 10, str(ends))
    worker = start_worker(concurrency, workdir / "worker.log")
    try:
        deadline = time.monotonic() + 60 + jobs * work_ms / 1000 * 10
        while True:
            count = len(ends.read_text().splitlines()) if ends.exists() else 0
            if count >= jobs:
                break
            if worker.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "worker.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"The worker did not finish ({count}/{jobs}):\n{log}")
            time.sleep(0.2)
    finally:
        stop_worker(worker)
    stamps = sorted(float(line) for line in ends.read_text().splitlines())
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def count_million_updates(person: Any, interval: float) -> tuple[int, float]:
    """Row updates and µs per report of a tracked job reporting a million times."""
    from django.db import connection
    from django.test import override_settings

    from osis_async.models import AsyncTask

    eager = Celery("osis_async_bench_eager", set_as_current=False)
    eager.conf.update(task_always_eager=True, broker_url="memory://", task_ignore_result=True)
    table = AsyncTask._meta.db_table
    updates = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal updates
        if sql.startswith("UPDATE") and table in sql:
            updates += 1
        return execute(sql, params, many, context)

    previous = app
    eager.set_current()
    try:
        with override_settings(OSIS_ASYNC_PROGRESS_INTERVAL=interval):
            with connection.execute_wrapper(count):
                started = time.perf_counter()
                task_uuid = million.enqueue_for(person, 1_000_000)
                elapsed = time.perf_counter() - started
    finally:
        previous.set_current()
    task = AsyncTask.objects.get(uuid=task_uuid)
    assert task.state == "DONE" and task.progression == 100, (task.state, task.progression)
    return updates, elapsed / 1_000_000 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default=None, help="broker URL (BENCH_BROKER_URL)")
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=1)
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
        f"{args.rounds} rounds per variant (alternating).\n"
    )
    results: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="osis-async-bench-") as tmp:
        workdir = Path(tmp)
        # Warm up (imports, connections, the database's caches).
        run_round(True, 50, args.work_ms, args.concurrency, person, workdir)
        for round_number in range(args.rounds):
            for tracked in (False, True):
                rate = run_round(
                    tracked, args.jobs, args.work_ms, args.concurrency, person, workdir
                )
                results[tracked].append(rate)
                label = "tracked  " if tracked else "untracked"
                print(f"  round {round_number + 1}: {label} {rate:8.1f} jobs/s", flush=True)

    base_best, base_median = max(results[False]), statistics.median(results[False])
    rows = []
    for tracked, label in ((False, "untracked: delay()"), (True, "tracked: enqueue_for()")):
        best, median = max(results[tracked]), statistics.median(results[tracked])
        rows.append((label, best, median, 1000 / median, median / base_median))
    print()
    print("| variant | jobs/s (best) | jobs/s (median) | ms per job (median) | ratio (median) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, best, median, ms, ratio in rows:
        print(f"| {label} | {best:.1f} | {median:.1f} | {ms:.2f} | {ratio:.3f} |")
    cost_median = 1 - rows[1][2] / base_median
    cost_best = 1 - rows[1][1] / base_best
    print(
        f"\nTracking costs {cost_median:.1%} of the throughput (median; {cost_best:.1%} best "
        f"against best); target: at most 10 %."
    )

    print("\n| one job reporting progress 1,000,000 times | row updates | µs per report |")
    print("| --- | ---: | ---: |")
    for interval in (0.5, 0.0):
        updates, per_report = count_million_updates(person, interval)
        print(
            f"| OSIS_ASYNC_PROGRESS_INTERVAL = {interval:g} s | {updates} "
            f"(PROCESSING + progress + DONE) | {per_report:.2f} |"
        )


if __name__ == "__main__":
    main()
