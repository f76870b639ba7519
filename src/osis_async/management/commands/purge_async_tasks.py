from __future__ import annotations

import logging
import math
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from osis_async import retention

logger = logging.getLogger(__name__)


def _whole(option: str, value: Any, low: int, high: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None or not low <= number <= high:
        raise CommandError(
            f"{option} {value!r} is not allowed: give a whole number from {low} to {high}."
        )
    return number


def _seconds(option: str, value: Any, high: float) -> float:
    number: float | None = None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or math.isnan(number) or not 0 <= number <= high:
        raise CommandError(
            f"{option} {value!r} is not allowed: give a number of seconds from 0 to {high:g}."
        )
    return number


class Command(BaseCommand):
    help = (
        "Delete the finished (DONE, ERROR or CANCELLED) tasks that finished more than "
        "OSIS_ASYNC_RETENTION days ago (completed_at, or updated_at when it is empty), in "
        "batches each committed on its own. PENDING and PROCESSING tasks are never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the tasks that would be deleted without deleting them.",
        )
        parser.add_argument(
            "--batch-size",
            default=retention.DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"Tasks deleted per batch, from 1 to {retention.MAX_BATCH_SIZE} "
            f"(default {retention.DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--older-than",
            default=None,
            metavar="DAYS",
            help=f"Delete tasks finished more than DAYS days ago, from 1 to {retention.MAX_DAYS} "
            "(default: OSIS_ASYNC_RETENTION).",
        )
        parser.add_argument(
            "--pause",
            default=0,
            metavar="SECONDS",
            help=f"Seconds to sleep between two batches, from 0 to {retention.MAX_PAUSE:g} "
            "(default 0).",
        )

    def handle(
        self,
        *args: Any,
        dry_run: bool = False,
        batch_size: Any = retention.DEFAULT_BATCH_SIZE,
        older_than: Any = None,
        pause: Any = 0,
        verbosity: int = 1,
        **options: Any,
    ) -> None:
        # Every argument is checked before anything is read or written.
        size = _whole("--batch-size", batch_size, 1, retention.MAX_BATCH_SIZE)
        seconds = _seconds("--pause", pause, retention.MAX_PAUSE)
        if older_than is None:
            try:
                days = retention.retention_days()
            except ValueError as error:
                raise CommandError(
                    f"{error} Fix the setting (see manage.py check) or give --older-than."
                ) from error
        else:
            days = _whole("--older-than", older_than, 1, retention.MAX_DAYS)
        before = retention.cutoff(days)

        if verbosity >= 2:
            self.stdout.write(
                f"Finished tasks that finished before {before.isoformat()} "
                f"(more than {days} day(s) ago)"
                + (" would be counted." if dry_run else f", in batches of {size}:")
            )
        if dry_run:
            count = retention.count_purgeable(before)
            message = (
                f"{count} finished task(s) older than {days} day(s) would be deleted (dry run)."
            )
        else:

            def report(batch: retention.Batch) -> None:
                if verbosity >= 2:
                    self.stdout.write(f"batch {batch.number}: {batch.deleted} task(s) deleted")

            count = retention.purge(before, batch_size=size, pause=seconds, on_batch=report)
            message = f"{count} finished task(s) older than {days} day(s) deleted."
        logger.info(message)
        if verbosity >= 1:
            self.stdout.write(message)
