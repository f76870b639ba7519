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
import collections
import itertools
import math
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
        log.write(f"{started:.6f} {variant}\n")


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
    jobs: int, work_ms: float, concurrency: int, person: Any, workdir: Path
) -> dict[str, list[float]]:
    """Queue ``jobs`` untracked and ``jobs`` tracked jobs, alternately, then start a worker.

    Returns, per variant, each job's cost in ms: from its start to the next job's start, which
    covers its work, its tracking writes (the DONE written after the work) and the worker's
    own overhead. Both variants share the queue and the worker, so a change in the machine's
    load during the round weighs on both alike.
    """
    log_path = workdir / f"starts-{uuid.uuid4().hex}.log"
    tracked = []
    for _ in range(jobs):
        spin.delay(work_ms, 10, str(log_path), "untracked")
        tracked.append(spin.enqueue_for(person, work_ms, 10, str(log_path), "tracked"))
    worker = start_worker(concurrency, workdir / "worker.log")
    try:
        deadline = time.monotonic() + 120 + jobs * work_ms / 1000 * 20
        while True:
            count = len(log_path.read_text().splitlines()) if log_path.exists() else 0
            if count >= 2 * jobs:
                break
            if worker.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "worker.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"The worker did not finish ({count}/{2 * jobs}):\n{log}")
            time.sleep(0.2)
    finally:
        stop_worker(worker)
    # The worker was stopped as its last job started: every final write, including those it
    # had handed to its writer thread, must be in the table once it has exited.
    from osis_async.models import AsyncTask

    states = dict(
        collections.Counter(
            AsyncTask.objects.filter(uuid__in=tracked).values_list("state", flat=True)
        )
    )
    if states != {"DONE": jobs}:
        raise SystemExit(f"Tracked rows after the worker exited: {states}, expected {jobs} DONE.")
    runs = sorted(
        (float(started), variant)
        for started, variant in (line.split() for line in log_path.read_text().splitlines())
    )
    costs: dict[str, list[float]] = {"untracked": [], "tracked": []}
    for (started, variant), (next_started, _) in itertools.pairwise(runs):
        costs[variant].append((next_started - started) * 1000)
    return costs


def count_million_updates(person: Any, interval: float, work_us: float) -> tuple[int, float]:
    """Row updates and seconds of a tracked job reporting a million times (run eagerly here).

    Counts the ``update_task`` calls of the tracking, from every thread (the job's and the
    flusher's): each is one UPDATE statement.
    """
    from django.test import override_settings

    from osis_async.integrations import tracking
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
    from osis_async.integrations import tracking

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
    costs: dict[str, list[float]] = {"untracked": [], "tracked": []}
    with tempfile.TemporaryDirectory(prefix="osis-async-bench-") as tmp:
        workdir = Path(tmp)
        run_round(25, args.work_ms, args.concurrency, person, workdir)  # warm up
        for round_number in range(args.rounds):
            round_costs = run_round(args.jobs, args.work_ms, args.concurrency, person, workdir)
            for variant, values in round_costs.items():
                costs[variant].extend(values)
            summary = ", ".join(
                f"{variant} {statistics.median(values):.2f} ms"
                for variant, values in round_costs.items()
            )
            print(f"  round {round_number + 1}: median cost per job: {summary}", flush=True)

    medians = {variant: statistics.median(values) for variant, values in costs.items()}
    means = {variant: statistics.fmean(values) for variant, values in costs.items()}
    print()
    print(
        "| variant | jobs | ms per job (median) | ms per job (mean) | jobs/s (median) "
        "| throughput ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for variant, label in (
        ("untracked", "untracked: delay()"),
        ("tracked", "tracked: enqueue_for()"),
    ):
        ratio = medians["untracked"] / medians[variant]
        print(
            f"| {label} | {len(costs[variant])} | {medians[variant]:.2f} | {means[variant]:.2f} "
            f"| {1000 / medians[variant]:.1f} | {ratio:.3f} |"
        )
    cost = 1 - medians["untracked"] / medians["tracked"]
    print(
        f"\nTracking costs {cost:.1%} of the throughput (medians; "
        f"{1 - means['untracked'] / means['tracked']:.1%} on means); target: at most 10 %."
    )

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
