"""The list endpoint and update_task on PostgreSQL with 100,000 tasks across 1,000 people.

    .venv/bin/python bench/list_endpoint.py [--tasks 100000] [--people 1000] [--rounds 2000]

Side by side in one run, interleaved request by request: the list endpoint against a floor view
with the same authentication that returns a constant body (target: within 1.3x), and
update_task's statements per call against the read-and-save it replaces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")


def ensure_database(recreate: bool = False) -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
    ) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def populate(tasks: int, people: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from osis_async.models import AsyncTask

    call_command("migrate", verbosity=0)
    User = get_user_model()
    if AsyncTask.objects.count() == tasks and User.objects.count() == people:
        return
    AsyncTask.objects.all().delete()
    User.objects.all().delete()
    User.objects.bulk_create(User(username=f"person{i:05d}") for i in range(people))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO osis_async_asynctask
                (uuid, name, description, state, person_id, progression, time_to_live,
                 traceback, created_at, updated_at, started_at, completed_at)
            SELECT md5(n::text)::uuid, 'Export ' || n, 'Students of year ' || (n %% 7),
                   (ARRAY['PENDING','PROCESSING','DONE','ERROR'])[1 + n %% 4],
                   u.id, n %% 101, 5, '', now() - n * interval '1 second',
                   now() - n * interval '1 second',
                   CASE WHEN n %% 4 > 0 THEN now() - n * interval '1 second' END,
                   CASE WHEN n %% 4 > 1 THEN now() - n * interval '1 second' END
            FROM generate_series(1, %s) AS n
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM auth_user) AS u
              ON u.k = n %% %s
            """,
            [tasks, people],
        )
        cursor.execute("ANALYZE osis_async_asynctask")


def time_requests(rounds: int) -> dict[str, list[float]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.order_by("-id")[500]
    client = Client()
    client.force_login(user)
    etag = client.get("/osis_async/tasks/")["ETag"]
    requests = {
        "floor": ("/floor/", {}, 200),
        "list": ("/osis_async/tasks/", {}, 200),
        "304 poll": ("/osis_async/tasks/", {"HTTP_IF_NONE_MATCH": etag}, 304),
    }
    for url, headers, status in requests.values():
        for _ in range(50):
            assert client.get(url, **headers).status_code == status
    times: dict[str, list[float]] = {name: [] for name in requests}
    for _ in range(rounds):
        for name, (url, headers, _status) in requests.items():
            start = time.perf_counter()
            client.get(url, **headers)
            times[name].append(time.perf_counter() - start)
    return times


def query_plans() -> None:
    """The plans of the statements inside ``osis_async_person_page`` and
    ``osis_async_person_version`` (read back from the database, their parameters given as
    values)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    person_id = get_user_model().objects.order_by("-id")[500].pk
    values = {
        "p_person": str(person_id),
        "p_running": "ARRAY['PENDING', 'PROCESSING']",
        "p_limit": "15",
        "p_offset": "0",
        "p_description_max": "2000",
        "p_result_path": "'/osis_async/tasks/00000000-0000-0000-0000-000000000000/result/'",
    }
    with connection.cursor() as cursor:
        for name, function in (
            ("page", "osis_async_person_page"),
            ("validator", "osis_async_person_version"),
        ):
            cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [function])
            (source,) = cursor.fetchone()
            statement = source.split("RETURN QUERY", 1)[1].rsplit("END;", 1)[0].strip().rstrip(";")
            for parameter, value in values.items():
                statement = statement.replace(parameter, value)
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + statement)
            print(f"plan of the {name} statement ({function}):")
            for (line,) in cursor.fetchall():
                print("    " + line)


def update_statements() -> dict[str, tuple[int, float]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from osis_async.models import AsyncTask
    from osis_async.utils import update_task

    task = AsyncTask.objects.filter(state="PROCESSING").order_by("id").first()
    assert task is not None

    def read_and_save(percent: int) -> None:
        row = AsyncTask.objects.get(uuid=task.uuid)
        row.progression = percent
        row.save()

    results = {}
    for name, call in (
        ("update_task", lambda p: update_task(task.uuid, progression=p)),
        ("read + save()", read_and_save),
    ):
        with CaptureQueriesContext(connection) as captured:
            call(1)
        started = time.perf_counter()
        for percent in range(1000):
            call(percent % 100)
        results[name] = (len(captured.captured_queries), (time.perf_counter() - started) / 1000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=2_000)
    args = parser.parse_args()

    import django

    ensure_database()
    django.setup()
    populate(args.tasks, args.people)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE osis_async_asynctask")
    times = time_requests(args.rounds)
    floor = statistics.median(times["floor"])
    print(f"{args.tasks:,} tasks across {args.people:,} people, {args.rounds:,} interleaved rounds")
    print(f"{'request':<16}{'median ms':>10}{'p90 ms':>10}{'/ floor':>9}")
    for name, values in times.items():
        values = sorted(values)
        median = statistics.median(values)
        print(
            f"{name:<16}{median * 1000:>10.3f}{values[int(len(values) * 0.9)] * 1000:>10.3f}"
            f"{median / floor:>8.2f}x"
        )
    ratio = statistics.median(times["list"]) / floor
    print(f"list / floor: {ratio:.2f}x (target <= 1.30x) {'OK' if ratio <= 1.3 else 'MISSED'}")
    print()
    query_plans()
    print()
    print(f"{'progress tick':<16}{'statements':>11}{'ms / call':>10}")
    for name, (statements, seconds) in update_statements().items():
        print(f"{name:<16}{statements:>11}{seconds * 1000:>10.3f}")


if __name__ == "__main__":
    main()
