"""Does the list's cost grow with the table? 100,000 tasks, then 10,000,000, on PostgreSQL.

    .venv/bin/python bench/scale.py [--small 100000] [--large 10000000] [--rounds 1500]

Each person keeps 100 tasks at both sizes (the retention purge bounds a person's history; the
table grows with people and time). At each size the list, a 304 poll and the floor view (same
authentication, constant body) are timed interleaved; the target is the list and the 304 poll at
10,000,000 tasks within 1.2x their time at 100,000. Floor-relative figures cancel the machine's
drift between the two measurements. The query plans at the large size are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("OSIS_ASYNC_BENCH_DB", "osis_async_scale")

TASKS_PER_PERSON = 100


def grow(total: int) -> None:
    """Add people and tasks (100 each) until the table holds ``total`` tasks."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM osis_async_asynctask")
        (have,) = cursor.fetchone()
        if have >= total:
            return
        people = (total - have) // TASKS_PER_PERSON
        print(f"adding {total - have:,} tasks for {people:,} people...", flush=True)
        cursor.execute("ALTER TABLE osis_async_asynctask DISABLE TRIGGER osis_async_notify_change")
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) "
            "SELECT '', false, 'scale' || n, '', '', '', false, true, now() "
            "FROM generate_series((SELECT COUNT(*) FROM auth_user) + 1, "
            "(SELECT COUNT(*) FROM auth_user) + %s) AS n",
            [people],
        )
        cursor.execute(
            """
            INSERT INTO osis_async_asynctask
                (uuid, name, description, state, person_id, progression, time_to_live,
                 traceback, created_at, updated_at, started_at, completed_at)
            SELECT gen_random_uuid(), 'Export ' || k, 'Students of year ' || (k %% 7),
                   (ARRAY['DONE','ERROR','DONE','PROCESSING'])[1 + k %% 4],
                   u.id, k %% 101, 5, '', now() - k * interval '1 minute',
                   now() - k * interval '1 minute', now() - k * interval '1 minute',
                   CASE WHEN k %% 4 < 3 THEN now() - k * interval '1 minute' END
            FROM (SELECT id FROM auth_user ORDER BY id DESC LIMIT %s) AS u
            CROSS JOIN generate_series(1, %s) AS k
            """,
            [people, TASKS_PER_PERSON],
        )
        cursor.execute("ALTER TABLE osis_async_asynctask ENABLE TRIGGER osis_async_notify_change")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE osis_async_asynctask")


def measure(rounds: int) -> dict[str, float]:
    from bench.list_endpoint import time_requests

    times = time_requests(rounds)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=1_500)
    args = parser.parse_args()

    import django

    from bench.list_endpoint import ensure_database, query_plans

    ensure_database(recreate=True)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    grow(args.small)
    small = measure(args.rounds)
    grow(args.large)
    large = measure(args.rounds)

    print(f"{'request':<12}{'100k ms':>10}{'10M ms':>10}{'10M/100k':>10}{'vs floor':>10}")
    for name in small:
        raw = large[name] / small[name]
        relative = (large[name] / large["floor"]) / (small[name] / small["floor"])
        print(
            f"{name:<12}{small[name] * 1000:>10.3f}{large[name] * 1000:>10.3f}"
            f"{raw:>9.2f}x{relative:>9.2f}x"
        )
    print()
    query_plans()


if __name__ == "__main__":
    main()
