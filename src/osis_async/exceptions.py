from django.core.exceptions import ObjectDoesNotExist, ValidationError


class InvalidTaskUpdate(ValidationError, ValueError):
    """A value given to ``update_task`` (or a tracked job) is not allowed. Nothing was written."""

    def __str__(self) -> str:
        return "; ".join(self.messages)


class TaskNotFound(ObjectDoesNotExist, LookupError):
    """No task has the uuid given."""


class TaskFailed(Exception):
    """Raised by a tracked job to fail with a reason its person may read.

    The task becomes ``ERROR`` and ``message`` (a lazy translation is welcome: it is rendered in
    the language the job runs in) is its ``error_message``, shown under its bar. Any other
    exception shows a generic message instead, never its text, which may hold secrets.
    ``raise TaskFailed(_("Row 1644 has an unknown student id."))``
    """

    def __init__(self, message: object) -> None:
        self.message = str(message)
        super().__init__(self.message)


class TaskCancelled(Exception):
    """Raised in a tracked job by ``progress(self).report(...)`` once its person asked to stop
    it (``osis_async.utils.cancel_task``, the widget's cancel button).

    Let it leave the job: the tracking then ends the task ``CANCELLED``, not ``ERROR``. A job
    that has to tidy up first catches it, tidies, and raises it again; a loop that would rather
    stop cleanly checks ``progress(self).cancelled`` and returns.
    """

    def __init__(self, task_uuid: object = None) -> None:
        self.task_uuid = task_uuid
        super().__init__(
            "Its person asked to stop this task."
            if task_uuid is None
            else f"Its person asked to stop task {task_uuid}."
        )
