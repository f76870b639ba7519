"""What a progress tick costs the database: ``update_task(uuid, progression=…)`` against a plain
one-column ``UPDATE``, and how many of the ticks are HOT updates (no index entry written).

    .venv/bin/python bench/progress_ticks.py [--tasks 100000] [--running 200] [--ticks 20000]

Uses the benchmarks' database (``osis_async_bench``, seeded by ``bench/list_endpoint.py`` if it is
empty: 100,000 tasks across 1,000 people), then, as a running site has, ``--running`` tasks
started after the migrations (their rows are where new rows go). Each round sends, in random
order, to a random running task: the statement ``update_task(uuid, progression=…)`` sends (read
once from ``update_task`` itself, then sent with each round's values), a plain ``UPDATE
osis_async_asynctask SET progression = %s WHERE uuid = %s``, and a whole ``update_task`` call;
each is its own transaction, with the table's trigger, timed on the client. The first two are
the database's cost of a tick against a plain one-column update (the target); the third adds
``update_task``'s own Python. The HOT share comes from PostgreSQL's counters
(``pg_stat_user_tables``), read after each kind of write alone.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import time
import uuid as uuid_module
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

uuid_type = uuid_module.UUID
dt_type = datetime.datetime

#: The targets of the issue this benchmark answers.
TARGET_HOT_SHARE = 0.90
TARGET_TICK_RATIO = 1.15


def counters(cursor: object) -> tuple[int, int]:
    cursor.execute("SELECT pg_stat_force_next_flush()")  # type: ignore[attr-defined]
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
        "WHERE relname = 'osis_async_asynctask'"
    )
    updated, hot = cursor.fetchone()  # type: ignore[attr-defined]
    return int(updated), int(hot)


def tick_statement(uuid: object) -> tuple[str, list[object]]:
    """The SQL and parameters ``update_task(uuid, progression=…)`` sends."""
    from django.db import connection

    from osis_async.utils import update_task

    sent: list[tuple[str, list[object]]] = []

    def keep(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.lstrip().upper().startswith("UPDATE"):
            sent.append((sql, list(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        update_task(uuid, progression=1)
    (statement,) = sent
    return statement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--running", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=20_000)
    args = parser.parse_args()

    import django

    from bench.list_endpoint import ensure_database, populate

    ensure_database()
    django.setup()
    populate(args.tasks, args.people)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from osis_async.models import AsyncTask, TaskState
    from osis_async.utils import update_task

    AsyncTask.objects.filter(name="bench tick").delete()
    person = get_user_model().objects.order_by("id").first()
    running = AsyncTask.objects.bulk_create(
        AsyncTask(
            name="bench tick",
            person=person,
            state=TaskState.PROCESSING,
            started_at=timezone.now(),
            time_to_live=600,
        )
        for _ in range(args.running)
    )
    uuids = [task.uuid for task in running]
    plain_sql = f'UPDATE "{AsyncTask._meta.db_table}" SET "progression" = %s WHERE "uuid" = %s'
    tick_sql, tick_params = tick_statement(uuids[0])

    def with_values(value: int, uuid: object) -> list[object]:
        """The tick's parameters, this round's progression, uuid and time put in."""
        now = timezone.now()
        replaced: list[object] = []
        for param in tick_params:
            if isinstance(param, bool) or not isinstance(param, (int, uuid_type, dt_type)):
                replaced.append(param)
            elif isinstance(param, int):
                replaced.append(value)
            elif isinstance(param, uuid_type):
                replaced.append(uuid)
            else:
                replaced.append(now)
        return replaced

    def tick(value: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(tick_sql, with_values(value, random.choice(uuids)))

    def plain(value: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(plain_sql, [value, random.choice(uuids)])

    def whole(value: int) -> None:
        update_task(random.choice(uuids), progression=value)

    with connection.cursor() as cursor:
        # The HOT share of each kind of write, each alone.
        shares = {}
        for name, write in (("update_task tick", tick), ("plain UPDATE", plain)):
            before = counters(cursor)
            for i in range(args.ticks // 4):
                write(i % 100)
            after = counters(cursor)
            updated = after[0] - before[0]
            shares[name] = (after[1] - before[1]) / updated if updated else 0.0
        # Their cost, side by side in random order.
        times: dict[str, list[float]] = {
            "update_task tick": [],
            "plain UPDATE": [],
            "whole update_task": [],
        }
        writes = [("update_task tick", tick), ("plain UPDATE", plain), ("whole update_task", whole)]
        shares["whole update_task"] = shares["update_task tick"]
        for i in range(args.ticks // 2):
            random.shuffle(writes)
            for name, write in writes:
                started = time.perf_counter()
                write(i % 100)
                times[name].append(time.perf_counter() - started)
    AsyncTask.objects.filter(name="bench tick").delete()

    plain_median = statistics.median(times["plain UPDATE"])
    print(f"{len(uuids)} running tasks, {args.ticks // 2:,} rounds of each write")
    print(f"{'write':<20}{'median ms':>10}{'/ plain':>9}{'HOT share':>11}")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:<20}{median * 1000:>10.3f}{median / plain_median:>8.2f}x{shares[name]:>10.1%}"
        )
    ratio = statistics.median(times["update_task tick"]) / plain_median
    hot = shares["update_task tick"]
    print(
        f"tick / plain: {ratio:.2f}x (target <= {TARGET_TICK_RATIO:.2f}x) "
        f"{'OK' if ratio <= TARGET_TICK_RATIO else 'MISSED'}; HOT ticks: {hot:.1%} "
        f"(target >= {TARGET_HOT_SHARE:.0%}) {'OK' if hot >= TARGET_HOT_SHARE else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
