from typing import TYPE_CHECKING, Any

from rest_framework import serializers

from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.task_row import ROW_NAMES

if TYPE_CHECKING:
    TaskSerializerBase = serializers.ModelSerializer[AsyncTask]
    PageSerializerBase = serializers.Serializer[dict[str, Any]]
else:  # generic for type checkers only
    TaskSerializerBase = serializers.ModelSerializer
    PageSerializerBase = serializers.Serializer


class AsyncTaskSerializer(TaskSerializerBase):
    """A task as the list shows it (``task_row``), for the OpenAPI document."""

    state = serializers.ChoiceField(choices=TaskState.choices, read_only=True)
    cancel_requested = serializers.BooleanField(
        read_only=True,
        help_text="The person asked to stop the task and its job has not stopped yet.",
    )

    class Meta:
        model = AsyncTask
        fields = ROW_NAMES
        read_only_fields = ROW_NAMES


class AsyncTaskPageSerializer(PageSerializerBase):
    """The list endpoint's body, for the OpenAPI document."""

    count = serializers.IntegerField(min_value=0, help_text="All the person's tasks.")
    pending_count = serializers.IntegerField(
        min_value=0, help_text="The person's tasks in PENDING or PROCESSING (never CANCELLED)."
    )
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AsyncTaskSerializer(many=True)


class TaskConflictSerializer(PageSerializerBase):
    """409: the task is not in a state that allows the action."""

    detail = serializers.CharField()
    state = serializers.ChoiceField(choices=TaskState.choices)


class DetailSerializer(PageSerializerBase):
    """An error's body (404: no such task of the person's)."""

    detail = serializers.CharField()


class DismissedSerializer(PageSerializerBase):
    """How many finished tasks were dismissed."""

    dismissed = serializers.IntegerField(min_value=0)
