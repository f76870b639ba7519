"""Two processes' worth of updaters hitting one task at once, on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "row-level concurrency is exercised on PostgreSQL (OSIS_ASYNC_TEST_DB=postgres)"
        )


def run_together(*workers: Callable[[], None]) -> None:
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrap(work: Callable[[], None]) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrap, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def test_updaters_of_different_fields_never_undo_each_other(make_task: Callable[..., Any]) -> None:
    task = make_task()
    update_task(task.uuid, state=TaskState.PROCESSING)

    def progress() -> None:
        for percent in range(1, 100):
            update_task(task.uuid, progression=percent)

    def describe() -> None:
        for step in range(1, 100):
            update_task(task.uuid, description=f"step {step}")

    run_together(progress, describe)
    row = AsyncTask.objects.get(pk=task.pk)
    assert (row.progression, row.description, row.state) == (99, "step 99", "PROCESSING")


def test_a_late_progress_tick_never_reopens_a_finished_task(make_task: Callable[..., Any]) -> None:
    task = make_task()
    update_task(task.uuid, state=TaskState.PROCESSING)
    finished = threading.Event()

    def late_ticks() -> None:
        for percent in range(200):
            update_task(task.uuid, state=TaskState.PROCESSING, progression=percent % 100)
            if finished.is_set() and percent > 100:
                break

    def finish() -> None:
        update_task(task.uuid, state=TaskState.DONE)
        finished.set()

    run_together(late_ticks, finish)
    row = AsyncTask.objects.get(pk=task.pk)
    assert (row.state, row.progression) == ("DONE", 100)
