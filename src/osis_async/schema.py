"""The endpoints' OpenAPI descriptions, active only when drf-spectacular is installed.

The view names its schema inspector itself (``TaskListView.schema = list_schema()``), so the
``schema/`` endpoint works with DRF's default settings: a site need not point
``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`` at drf-spectacular's ``AutoSchema``, and one that
points it elsewhere keeps it for its own views.
"""

from __future__ import annotations

from typing import Any

try:
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter
except ImportError:  # pragma: no cover - exercised only without the "openapi" extra
    HAS_SPECTACULAR = False

    def list_schema() -> Any:
        """DRF's default inspector: without drf-spectacular there is no ``schema/`` endpoint."""
        from rest_framework.schemas import DefaultSchema

        return DefaultSchema()

    def action_schema(action: str) -> Any:
        """DRF's default inspector (see ``list_schema``)."""
        return list_schema()

else:
    HAS_SPECTACULAR = True

    class TaskListSchema(AutoSchema):
        """drf-spectacular's inspector, told what the hand-written list view answers."""

        def get_operation_id(self) -> str:
            return "osis_async_task_list"

        def get_summary(self) -> str:
            return "The requesting person's tasks, newest first."

        def get_override_parameters(self) -> list[Any]:
            return [
                *super().get_override_parameters(),
                OpenApiParameter("limit", OpenApiTypes.INT, description="Tasks per page."),
                OpenApiParameter("offset", OpenApiTypes.INT, description="Tasks to skip."),
            ]

        def get_response_serializers(self) -> Any:
            from osis_async.serializers import AsyncTaskPageSerializer

            return AsyncTaskPageSerializer

    def list_schema() -> Any:
        """The list view's inspector, whatever ``DEFAULT_SCHEMA_CLASS`` the site sets."""
        return TaskListSchema()

    #: What each action endpoint answers, by status: a serializer's name, or None (no body).
    _ACTIONS: dict[str, tuple[str, dict[int, str | None]]] = {
        "cancel": (
            "Ask to stop one of the person's tasks: a PENDING one is CANCELLED at once, a "
            "PROCESSING one is told at its next report.",
            {202: "AsyncTaskSerializer", 409: "TaskConflictSerializer", 404: "DetailSerializer"},
        ),
        "dismiss": (
            "Remove a finished task from the person's list (it is deleted).",
            {204: None, 409: "TaskConflictSerializer", 404: "DetailSerializer"},
        ),
        "dismiss-finished": (
            "Remove every finished task from the person's list, in one statement.",
            {200: "DismissedSerializer"},
        ),
    }

    class TaskActionSchema(AutoSchema):
        """drf-spectacular's inspector for a POST action on the person's tasks."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

        def get_operation_id(self) -> str:
            return "osis_async_task_" + self.action.replace("-", "_")

        def get_summary(self) -> str:
            return _ACTIONS[self.action][0]

        def get_request_serializer(self) -> Any:
            return None

        def get_response_serializers(self) -> Any:
            from osis_async import serializers

            return {
                status: None if name is None else getattr(serializers, name)
                for status, name in _ACTIONS[self.action][1].items()
            }

    def action_schema(action: str) -> Any:
        """The inspector of the action view ``action`` (``cancel``, ``dismiss``,
        ``dismiss-finished``)."""
        return TaskActionSchema(action)
