"""OpenAPI annotations, active only when drf-spectacular is installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

try:
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter, extend_schema
except ImportError:  # pragma: no cover - exercised only without the "openapi" extra
    HAS_SPECTACULAR = False

    def document_list(view: F) -> F:
        return view

else:
    HAS_SPECTACULAR = True

    def document_list(view: F) -> F:
        from osis_async.serializers import AsyncTaskPageSerializer

        return extend_schema(
            operation_id="osis_async_task_list",
            summary="The requesting person's tasks, newest first.",
            parameters=[
                OpenApiParameter("limit", OpenApiTypes.INT, description="Tasks per page."),
                OpenApiParameter("offset", OpenApiTypes.INT, description="Tasks to skip."),
            ],
            responses=AsyncTaskPageSerializer,
        )(view)
