"""The list endpoint's OpenAPI description, active only when drf-spectacular is installed.

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
