from django.db import models
from django.utils.translation import gettext_lazy as _


class TaskState(models.TextChoices):
    """Where a task stands. The database stores the member's name."""

    PENDING = "PENDING", _("Pending")
    PROCESSING = "PROCESSING", _("Processing")
    DONE = "DONE", _("Done")
    ERROR = "ERROR", _("Error")
    CANCELLED = "CANCELLED", _("Cancelled")

    @classmethod
    def running(cls) -> tuple["TaskState", ...]:
        """The states that count as pending for the badge: not finished yet."""
        return (cls.PENDING, cls.PROCESSING)

    @classmethod
    def finished(cls) -> tuple["TaskState", ...]:
        """The final states: a task that reaches one never leaves it."""
        return (cls.DONE, cls.ERROR, cls.CANCELLED)
