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


class Runner(models.TextChoices):
    """What runs a task's job (``AsyncTask.runner``): what a cancel tells besides the row."""

    SITE = "", _("The site's own code")
    CELERY = "celery", _("Celery")
    #: A Celery job whose cancel may end the process running it (``cancel="terminate"``).
    CELERY_TERMINATE = "celery-terminate", _("Celery, ended by a cancel")
    DJANGO_TASKS = "django.tasks", _("django.tasks")
