from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from osis_async.conf import whole_setting
from osis_async.models.task import AsyncTask

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    """The TTL sweep, for cron. What it did is said once, in one place:

    - ``--verbosity 1`` (the default): the count on stdout when it expired something, nothing
      otherwise, so a cron job mails only when there is something to say;
    - ``--verbosity 2`` and up: the count on every run (and, with ``--dry-run``, each task);
    - ``--verbosity 0``: nothing on stdout; a sweep that expired something logs it instead
      (``osis_async`` logger, INFO), for sites that collect logs rather than cron mail.

    ``--dry-run`` prints its count at verbosity 1 and up, zero included (someone asked), and
    logs nothing (nothing changed).
    """

    help = (
        "Mark as ERROR the tasks that outlived their time: PROCESSING ones past started_at + "
        "time_to_live minutes, PENDING ones older than OSIS_ASYNC_PENDING_TIMEOUT minutes. "
        "Prints the count when it expired something (always with --verbosity 2, never with 0)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the tasks that would expire without changing them.",
        )

    def handle(self, *args: Any, dry_run: bool = False, verbosity: int = 1, **options: Any) -> None:
        try:
            whole_setting("PENDING_TIMEOUT")
        except ValueError as error:
            raise CommandError(f"{error} Fix the setting (see manage.py check).") from error
        now = timezone.now()
        if dry_run:
            expired = AsyncTask.objects.expired(now)
            count = expired.count()
            if verbosity >= 2:
                for uuid, name in expired.values_list("uuid", "name"):
                    self.stdout.write(f"would expire {uuid} {name}")
            if verbosity >= 1:
                self.stdout.write(f"{count} task(s) would be marked as expired (dry run).")
            return
        count = AsyncTask.objects.expire(now)
        message = f"{count} task(s) marked as expired."
        if verbosity >= 2 or (verbosity == 1 and count):
            self.stdout.write(message)
        elif verbosity == 0 and count:
            logger.info(message)
