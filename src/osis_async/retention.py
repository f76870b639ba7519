"""The retention purge: delete finished tasks older than ``OSIS_ASYNC_RETENTION`` days.

Shared by ``manage.py purge_async_tasks`` and the Celery task ``osis_async.purge_async_tasks``.
It deletes in batches, each its own short transaction:

1. select up to ``batch_size`` primary keys of purgeable tasks, in pk order after the last
   batch's, locking those rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a row another
   transaction holds is left for the next run, never waited for);
2. delete them with ``QuerySet.delete()`` (the purge's conditions repeated), which ends in
   ``DELETE ... WHERE id IN (...)``, so ``pre_delete``/``post_delete`` receivers, the live
   updates' among them, see each deleted task.

No lock outlives a batch, a row is only deleted while it is finished and old, and a run stopped
half-way keeps the batches it committed.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from osis_async.conf import WHOLE_RANGES, get_settings
from osis_async.models.task import AsyncTask

logger = logging.getLogger(__name__)

#: Tasks deleted per batch unless told otherwise.
DEFAULT_BATCH_SIZE = 1000
#: The largest batch allowed: beyond it a batch's transaction stops being short.
MAX_BATCH_SIZE = 10_000
#: The longest pause allowed between two batches, in seconds.
MAX_PAUSE = 60.0
#: The longest retention ``--older-than`` and ``OSIS_ASYNC_RETENTION`` take, in days (a century).
MAX_DAYS = WHOLE_RANGES["RETENTION"][1]


@dataclass(frozen=True)
class Batch:
    """One committed batch: its number (from 1) and how many tasks it deleted."""

    number: int
    deleted: int


def retention_days(days: int | None = None) -> int:
    """``days``, or ``OSIS_ASYNC_RETENTION``; a ``ValueError`` unless a whole number from 1 to
    ``MAX_DAYS``."""
    value = get_settings().RETENTION if days is None else days
    source = "OSIS_ASYNC_RETENTION" if days is None else "the retention"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{source} {value!r} is not a positive whole number of days.")
    if value > MAX_DAYS:
        raise ValueError(f"{source} {value!r} is more than {MAX_DAYS:,} days (a century).")
    return value


def cutoff(days: int | None = None, now: datetime.datetime | None = None) -> datetime.datetime:
    """The instant before which a finished task is purged: ``now`` minus the retention."""
    return (now or timezone.now()) - datetime.timedelta(days=retention_days(days))


def count_purgeable(before: datetime.datetime) -> int:
    """How many tasks a purge with this cutoff would delete now."""
    return AsyncTask.objects.purgeable(before).count()


def purge(
    before: datetime.datetime,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pause: float = 0.0,
    on_batch: Callable[[Batch], None] | None = None,
    sleep: Callable[[float], object] | None = None,
) -> int:
    """Delete the finished tasks that finished before ``before``, in batches; return how many.

    ``pause`` seconds are slept (with ``sleep``, ``time.sleep`` by default) after each full
    batch. ``on_batch`` is called after each batch commits.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, got {batch_size!r}.")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be from 1 to {MAX_BATCH_SIZE}, got {batch_size}.")
    if not 0 <= pause <= MAX_PAUSE:
        raise ValueError(f"pause must be from 0 to {MAX_PAUSE:g} seconds, got {pause!r}.")

    purgeable = AsyncTask.objects.purgeable(before)
    total = 0
    number = 0
    last_pk: int | None = None
    while True:
        with transaction.atomic():
            batch = purgeable if last_pk is None else purgeable.filter(pk__gt=last_pk)
            pks = list(
                batch.select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not pks:
                break
            _, by_model = purgeable.filter(pk__in=pks).delete()
        deleted = by_model.get(AsyncTask._meta.label, 0)
        number += 1
        total += deleted
        last_pk = pks[-1]
        logger.debug("Retention purge: batch %d deleted %d task(s).", number, deleted)
        if on_batch is not None:
            on_batch(Batch(number, deleted))
        if len(pks) < batch_size:
            break
        if pause:
            (sleep or time.sleep)(pause)
    return total
