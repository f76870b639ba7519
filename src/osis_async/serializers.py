from typing import TYPE_CHECKING, Any

from rest_framework import serializers

from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.task_row import TASK_FIELDS

if TYPE_CHECKING:
    TaskSerializerBase = serializers.ModelSerializer[AsyncTask]
    PageSerializerBase = serializers.Serializer[dict[str, Any]]
else:  # generic for type checkers only
    TaskSerializerBase = serializers.ModelSerializer
    PageSerializerBase = serializers.Serializer


class AsyncTaskSerializer(TaskSerializerBase):
    """A task as the list shows it (``task_row``), for the OpenAPI document."""

    state = serializers.ChoiceField(choices=TaskState.choices, read_only=True)

    class Meta:
        model = AsyncTask
        fields = TASK_FIELDS
        read_only_fields = TASK_FIELDS


class AsyncTaskPageSerializer(PageSerializerBase):
    """The list endpoint's body, for the OpenAPI document."""

    count = serializers.IntegerField(min_value=0, help_text="All the person's tasks.")
    pending_count = serializers.IntegerField(
        min_value=0, help_text="The person's tasks in PENDING or PROCESSING."
    )
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AsyncTaskSerializer(many=True)
