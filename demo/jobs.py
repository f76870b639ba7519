"""The demo's jobs: what a site's report, export or import would do, scaled down to seconds."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections
from django.utils.translation import gettext_lazy as _

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task


@dataclass(frozen=True)
class DemoJob:
    key: str
    name: Any
    description: Any
    seconds: float
    fail_at: int | None = None
    time_to_live: int = 5


JOBS = {
    job.key: job
    for job in (
        DemoJob("report", _("Yearly report"), _("Builds the PDF report of the year."), 6),
        DemoJob("export", _("Students export"), _("Exports 12,000 students to a spreadsheet."), 20),
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


def run(job: DemoJob, task_uuid: str) -> None:
    """Do the job's pretend work, reporting progress as it goes."""
    update_task(task_uuid, state=TaskState.PROCESSING)
    steps = 20
    try:
        for step in range(1, steps + 1):
            time.sleep(job.seconds / steps)
            percent = step * 100 // steps
            if job.fail_at is not None and percent >= job.fail_at:
                raise DemoJobFailed(f"Row {step * 137} has an unknown student id.")
            update_task(task_uuid, progression=min(percent, 99))
    except DemoJobFailed as error:
        update_task(task_uuid, state=TaskState.ERROR, exception=error)
        return
    update_task(task_uuid, state=TaskState.DONE)


def start(job: DemoJob, person: Any) -> str:
    task = AsyncTask.objects.create(
        name=str(job.name),
        description=str(job.description),
        person=person,
        time_to_live=job.time_to_live,
    )

    def target() -> None:
        try:
            run(job, str(task.uuid))
        finally:
            close_old_connections()

    threading.Thread(target=target, daemon=True, name=f"demo-{job.key}").start()
    return str(task.uuid)
