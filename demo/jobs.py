"""The demo's jobs: what a site's report, export or import would do, scaled down to seconds.

Each job is written once (``work``) and declared twice, as a production site would declare it:
a django.tasks task (the demo's default: a database queue on the demo's own database, run by
``manage.py db_worker``) and a Celery task (when ``DEMO_BROKER_URL`` names a broker, run by
``celery -A demo.celery worker``). ``start`` enqueues one for the person who clicked; the job
then runs in that person's language (its step descriptions are French for a French visitor).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from osis_async.integrations import celery as tracked_celery
from osis_async.integrations import django_tasks as tracked_tasks
from osis_async.integrations.progress import TaskProgress
from osis_async.integrations.tracking import TaskSpec
from osis_async.models import AsyncTask

try:
    from django.tasks import task  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # Django < 6.0: the backport
    from django_tasks import task  # type: ignore[no-redef,unused-ignore]

if getattr(settings, "DEMO_JOB_RUNNER", "") == "celery":
    import demo.celery  # noqa: F401  (the app the Celery tasks below send through)


@dataclass(frozen=True)
class DemoJob:
    key: str
    name: Any
    description: Any
    seconds: float
    fail_at: int | None = None
    time_to_live: int = 5
    #: What the description says at each step, with ``%(done)s`` (None: it stays as it is).
    step_description: Any = None


JOBS = {
    job.key: job
    for job in (
        DemoJob("report", _("Yearly report"), _("Builds the PDF report of the year."), 6),
        DemoJob(
            "export",
            _("Students export"),
            _("Exports 12,000 students to a spreadsheet."),
            20,
            step_description=_("Exporting students: %(done)s of 12,000 written."),
        ),
        DemoJob(
            "import", _("Grades import"), _("Imports grades from a spreadsheet."), 8, fail_at=60
        ),
        DemoJob(
            "stuck",
            _("Stuck synchronisation"),
            _("Outlives its one-minute time to live; the TTL sweep then marks it failed."),
            120,
            time_to_live=1,
        ),
    )
}


class DemoJobFailed(RuntimeError):
    pass


def work(job: DemoJob, progress: TaskProgress) -> None:
    """Do the job's pretend work, reporting progress as it goes; the import fails at 60 %."""
    steps = 20
    for step in range(1, steps + 1):
        time.sleep(job.seconds / steps)
        if job.fail_at is not None and step * 100 // steps >= job.fail_at:
            raise DemoJobFailed(f"Row {step * 137} has an unknown student id.")
        description = None
        if job.step_description is not None:
            # In the job's language, its numbers too: "1,800" in English, "1 800" in French.
            done = number_format(step * 12_000 // steps, force_grouping=True)
            description = job.step_description % {"done": done}
        progress.report(step, steps, description=description)


# django.tasks: the embedded default.
@tracked_tasks.tracked_task(name=_("Demo job"))
@task()
def run_demo_job(key: str) -> None:
    work(JOBS[key], tracked_tasks.progress())


# Celery: with DEMO_BROKER_URL.
@tracked_celery.tracked_task(name=_("Demo job"))
@shared_task(bind=True)
def run_demo_job_celery(self: Any, key: str) -> None:
    work(JOBS[key], tracked_celery.progress(self))


def start(job: DemoJob, person: Any) -> str:
    """Enqueue ``job`` for ``person``; return the uuid of its task at once."""
    runner = getattr(settings, "DEMO_JOB_RUNNER", "thread")
    options = {"name": job.name, "description": job.description, "time_to_live": job.time_to_live}
    if runner == "celery":
        return str(run_demo_job_celery.with_tracking(**options).enqueue_for(person, job.key))
    if runner == "tasks":
        return str(run_demo_job.with_tracking(**options).enqueue_for(person, job.key))
    return _start_in_thread(job, person)


def _start_in_thread(job: DemoJob, person: Any) -> str:
    """Without a worker (settings other than the demo's, such as the test suite's): run the
    django.tasks job in a thread of this process, tracked the same way."""
    name, description = TaskSpec(name=job.name, description=job.description).resolve()
    language = translation.get_language()  # a new thread starts in the default one
    task = AsyncTask.objects.create(
        name=name, description=description, person=person, time_to_live=job.time_to_live
    )

    def target() -> None:
        try:
            run_demo_job.call(
                job.key,
                **{
                    tracked_tasks.TASK_KWARG: str(task.uuid),
                    tracked_tasks.LANGUAGE_KWARG: language,
                },
            )
        except DemoJobFailed:
            pass  # recorded on the task
        finally:
            close_old_connections()

    threading.Thread(target=target, daemon=True, name=f"demo-{job.key}").start()
    return str(task.uuid)
