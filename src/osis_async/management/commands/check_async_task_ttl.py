from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from osis_async.conf import whole_setting
from osis_async.models.task import AsyncTask

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Mark as ERROR the tasks that outlived their time: PROCESSING ones past started_at + "
        "time_to_live minutes, PENDING ones older than OSIS_ASYNC_PENDING_TIMEOUT minutes."
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
            message = f"{count} task(s) would be marked as expired (dry run)."
        else:
            count = AsyncTask.objects.expire(now)
            message = f"{count} task(s) marked as expired."
        logger.info(message)
        if verbosity >= 1:
            self.stdout.write(message)
