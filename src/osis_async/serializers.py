import datetime
import json
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask

#: The columns the list endpoint reads and returns, in order.
TASK_FIELDS = (
    "uuid",
    "name",
    "description",
    "state",
    "progression",
    "created_at",
    "started_at",
    "completed_at",
)


class AsyncTaskSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=TaskState.choices, read_only=True)

    class Meta:
        model = AsyncTask
        fields = TASK_FIELDS
        read_only_fields = TASK_FIELDS


class AsyncTaskPageSerializer(serializers.Serializer):
    """The list endpoint's body, for the OpenAPI document."""

    count = serializers.IntegerField(min_value=0, help_text="All the person's tasks.")
    pending_count = serializers.IntegerField(
        min_value=0, help_text="The person's tasks in PENDING or PROCESSING."
    )
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AsyncTaskSerializer(many=True)


def task_representation(row: tuple[Any, ...]) -> dict[str, Any]:
    """A ``TASK_FIELDS`` row as the list endpoint returns it: ``AsyncTaskSerializer``'s fields,
    written out because the list is the hot path of every open widget."""
    uuid, name, description, state, progression, created_at, started_at, completed_at = row
    return {
        "uuid": str(uuid),
        "name": name,
        "description": description,
        "state": state,
        "progression": progression,
        "created_at": iso_datetime(created_at),
        "started_at": iso_datetime(started_at),
        "completed_at": iso_datetime(completed_at),
    }


def iso_datetime(value: datetime.datetime | None) -> str | None:
    """ISO 8601 to the microsecond with an offset: ``Z`` for the UTC the database hands out
    under ``USE_TZ``, the default time zone's offset for a naive value. PostgreSQL's
    ``osis_async_person_page`` writes the same text."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = timezone.make_aware(value)
    text = value.isoformat(timespec="microseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def json_text(data: Any) -> str:
    """``data`` as compact JSON text, non-ASCII characters as they are."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
