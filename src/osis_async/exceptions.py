from django.core.exceptions import ObjectDoesNotExist, ValidationError


class InvalidTaskUpdate(ValidationError, ValueError):
    """A value given to ``update_task`` (or a tracked job) is not allowed. Nothing was written."""

    def __str__(self) -> str:
        return "; ".join(self.messages)


class TaskNotFound(ObjectDoesNotExist, LookupError):
    """No task has the uuid given."""
