from __future__ import annotations

import logging
import uuid as uuid_module
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import SuspiciousFileOperation
from django.db import DatabaseError
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import get_conditional_response
from django.views.generic import DetailView
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from osis_async import cors, remote
from osis_async.authentication import authentication_classes
from osis_async.busy import bounded, busy_response
from osis_async.conf import get_settings
from osis_async.events.stream import stream_available
from osis_async.links import is_safe_url
from osis_async.listing import list_etag, page_version, person_page
from osis_async.models.task import AsyncTask
from osis_async.pagination import Page
from osis_async.persons import get_person
from osis_async.result_storage import result_storage
from osis_async.schema import HAS_SPECTACULAR, list_schema

logger = logging.getLogger(__name__)


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Answer JSON whatever ``Accept`` says, so errors are JSON for browsers too."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


class TaskListView(APIView):
    """The requesting person's tasks, newest first, with ``count`` and ``pending_count``."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    # Its OpenAPI description, whatever the site's DEFAULT_SCHEMA_CLASS (osis_async/schema.py).
    schema = list_schema()

    def get_authenticators(self) -> list[BaseAuthentication]:
        return [cls() for cls in authentication_classes()]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """The view, with CORS for ``OSIS_ASYNC_DOMAIN_LIST``: preflights answered first."""
        return cors.allow_listed_origins(super().as_view(**initkwargs))

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DatabaseError):
            # Reading the session or the user failed: the database is out of reach or full.
            logger.warning("The task list could not authenticate its request.", exc_info=True)
            return cast(Response, busy_response())  # any HttpResponse does for DRF
        return super().handle_exception(exc)

    def get(self, request: Request) -> HttpResponse:
        http = request._request  # what the remote mode and the person getter are given
        if get_settings().BASE_URL:
            return remote.forward(http, "tasks/")
        page = Page.from_query(request.query_params)
        person = get_person(http)
        try:
            if "If-None-Match" in request.headers:
                version = page_version(person, page.limit, page.offset)
                etag = list_etag(person, version, page.limit, page.offset)
                not_modified = get_conditional_response(http, etag=etag)
                if not_modified is not None:
                    return _listed(http, not_modified, etag)
            results, counts, version = person_page(person, page.offset, page.limit)
        except DatabaseError:
            logger.warning("The task list could not be read in time.", exc_info=True)
            return busy_response()
        response = HttpResponse(
            page.render(request, results, counts), content_type="application/json"
        )
        return _listed(http, response, list_etag(person, version, page.limit, page.offset))


def _listed(request: HttpRequest, response: HttpResponse, etag: str) -> HttpResponse:
    """``response`` with the list's validator, the stream's link and its caching rule."""
    response["ETag"] = etag
    if stream_available(request):
        stream = reverse("osis_async:task-stream")
        response["Link"] = f'<{stream}>; rel="osis-async-stream"'
    # Browsers may keep the page but must ask again each time; shared caches must not keep it.
    response["Cache-Control"] = "private, no-cache"
    return response


if TYPE_CHECKING:
    TaskDetailBase = DetailView[AsyncTask]
else:  # generic for type checkers only
    TaskDetailBase = DetailView


class TaskProgressView(TaskDetailBase):
    """One task's progress as a modal body that re-polls itself with htmx until finished."""

    template_name = "osis_async/modal_async_progress.html"
    context_object_name = "task"

    def get_object(self, queryset: Any = None) -> AsyncTask:
        person = get_person(self.request)
        return get_object_or_404(
            AsyncTask.objects.for_person(person), uuid=self.kwargs["uuid"], person__isnull=False
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["result_url"] = task_result_url(self.object)
        return context

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            if not request.user.is_authenticated:
                return HttpResponse(status=403)
            with bounded():
                response = super().dispatch(request, *args, **kwargs)
                if isinstance(response, TemplateResponse):
                    response.render()
                return response
        except DatabaseError:
            logger.warning("A task's progress could not be read in time.", exc_info=True)
            return busy_response()


def task_result_url(task: AsyncTask) -> str | None:
    """The link to ``task``'s result, as the list gives it."""
    if task.result_url:
        # Written past validation (a queryset's update()), an unsafe URL is no link.
        return task.result_url if is_safe_url(task.result_url) else None
    if task.result_file:
        return reverse("osis_async:task-result", args=[task.uuid])
    return None


def task_result(request: HttpRequest, uuid: uuid_module.UUID) -> HttpResponseBase:
    """The file of task ``uuid``'s result, as an attachment, to the task's owner only.

    Anonymous: 403. Another person's task, an unknown uuid, a task without a file and a file its
    storage lost: the same 404, so nothing tells them apart.
    """
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not request.user.is_authenticated:
        return HttpResponse(status=403)
    try:
        with bounded():
            person = get_person(request)
            found = (
                AsyncTask.objects.for_person(person)
                .filter(uuid=uuid, person__isnull=False, result_file__gt="")
                .values_list("result_file", "result_filename")
                .first()
                if person is not None
                else None
            )
    except DatabaseError:
        logger.warning("A task's result could not be read in time.", exc_info=True)
        return busy_response()
    if found is None:
        raise Http404("No such result.")
    name, filename = str(found[0]), found[1]
    try:
        content = result_storage().open(name, "rb")
    except (OSError, SuspiciousFileOperation):
        logger.warning("The result file %r of task %s is gone from its storage.", name, uuid)
        raise Http404("No such result.") from None
    response = FileResponse(
        content, as_attachment=True, filename=filename or name.rsplit("/", 1)[-1]
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


if HAS_SPECTACULAR:
    from drf_spectacular.views import SpectacularAPIView

    class TaskSchemaView(SpectacularAPIView):
        """The OpenAPI document of this app's endpoints, at the paths where they are mounted."""

        def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
            list_path = reverse("osis_async:task-list").lstrip("/")
            self.patterns = [path(list_path, TaskListView.as_view(), name="task-list")]
            response: Response = super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]
            return response
