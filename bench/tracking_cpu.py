"""The CPU a worker's tracked run costs its process, without Celery: a tracker built as the
worker builds it (``wait_final=False``), the job's language, ten reports, the hand-over of its
final state and that state's share of the writer's one statement, all threads counted.

    BENCH_PGDATABASE=osis_async_bench_h .venv/bin/python bench/tracking_cpu.py [--jobs 3000]

Needs PostgreSQL (``BENCH_PG*``, see bench/throughput_settings.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.throughput_settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from bench.throughput import ensure_database
    from osis_async.integrations.progress import activate, deactivate
    from osis_async.integrations.tracking import Tracker, drain, job_language
    from osis_async.models import AsyncTask

    ensure_database()
    person, _ = get_user_model().objects.get_or_create(username="bench-cpu")
    tasks = AsyncTask.objects.bulk_create(
        [AsyncTask(name="CPU", person=person) for _ in range(args.jobs)]
    )
    started = time.process_time()
    for task in tasks:
        with job_language("en"):
            tracker = Tracker(task.uuid, base_description="", wait_final=False)
            token = activate(tracker.progress)
            tracker.start()
            for done in range(1, 11):
                tracker.progress.report(done, 10)
            tracker.succeed()
            deactivate(token)
    drain()
    per_job = (time.process_time() - started) / args.jobs * 1000
    done = AsyncTask.objects.filter(pk__in=[task.pk for task in tasks], state="DONE").count()
    assert done == args.jobs, (done, args.jobs)
    print(f"{per_job:.3f} ms of CPU per tracked run, every thread of this process counted.")


if __name__ == "__main__":
    main()
