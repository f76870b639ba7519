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
from rest_framework import status
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from osis_async import cors, remote
from osis_async.authentication import authentication_classes
from osis_async.busy import bounded, busy_response
from osis_async.cancels import cancel_tasks
from osis_async.conf import get_settings
from osis_async.events.stream import stream_available
from osis_async.links import is_safe_url
from osis_async.listing import list_etag, page_version, person_page, task_item
from osis_async.models.task import AsyncTask, AsyncTaskQuerySet
from osis_async.pagination import Page
from osis_async.persons import get_person
from osis_async.result_storage import result_storage
from osis_async.schema import HAS_SPECTACULAR, action_schema, list_schema

logger = logging.getLogger(__name__)


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """Answer JSON whatever ``Accept`` says, so errors are JSON for browsers too (a body, if
    any, is parsed by its own content type)."""

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


class TaskAPIView(APIView):
    """What the app's JSON endpoints share: the person signed in (the project's DRF
    authentication, the session always among it, CSRF enforced for it), JSON only, CORS for
    ``OSIS_ASYNC_DOMAIN_LIST`` and a JSON 503 when the database is out of reach."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation

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


class TaskListView(TaskAPIView):
    """The requesting person's tasks, newest first, with ``count`` and ``pending_count``."""

    # Its OpenAPI description, whatever the site's DEFAULT_SCHEMA_CLASS (osis_async/schema.py).
    schema = list_schema()

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


def _persons_tasks(request: Request) -> AsyncTaskQuerySet:
    """The tasks of the person signed in; none for a request with no person."""
    person = get_person(request._request)
    if person is None:
        return AsyncTask.objects.none()
    return AsyncTask.objects.for_person(person).filter(person__isnull=False)


class TaskActionView(TaskAPIView):
    """A ``POST`` on one of the person's tasks (``tasks/<uuid>/<action>/``): ``act`` answers
    when it applies; otherwise 409 with the task's state, or the same 404 for another person's
    task as for an unknown one."""

    #: The last part of the path, as the remote API has it too.
    action: str
    #: Why the action does not apply to the task in the state it is in.
    refusal: str

    def post(self, request: Request, uuid: uuid_module.UUID) -> HttpResponse:
        if get_settings().BASE_URL:
            return remote.forward(request._request, f"tasks/{uuid}/{self.action}/", method="POST")
        tasks = _persons_tasks(request).filter(uuid=uuid)
        try:
            with bounded():
                answer = self.act(tasks)
                if answer is not None:
                    return answer
                state = tasks.values_list("state", flat=True).first()
        except DatabaseError:
            logger.warning("Task %s could not be %s in time.", uuid, self.action, exc_info=True)
            return busy_response()
        if state is None:
            raise NotFound()
        return Response(
            {"detail": f"Task {uuid} is {state}: {self.refusal}", "state": state},
            status=status.HTTP_409_CONFLICT,
        )

    def act(self, tasks: AsyncTaskQuerySet) -> Response | None:
        raise NotImplementedError


class TaskCancelView(TaskActionView):
    """``POST``: the owner asks to stop a ``PENDING`` or ``PROCESSING`` task
    (``osis_async.cancels``). 202 with the task's list item; 409 when it is finished already;
    404 for another person's task as for an unknown one."""

    schema = action_schema("cancel")
    action = "cancel"
    refusal = "a finished task cannot be cancelled."

    def act(self, tasks: AsyncTaskQuerySet) -> Response | None:
        if not cancel_tasks(tasks):
            return None
        task = tasks.first()
        if task is None:  # dismissed since, from another tab
            return Response(status=status.HTTP_202_ACCEPTED)
        return Response(task_item(task), status=status.HTTP_202_ACCEPTED)


class TaskDismissView(TaskActionView):
    """``POST``: the owner removes a finished task from their list (it is deleted, its result
    file with it). 204; 409 while it runs; 404 for another person's task as for an unknown
    one."""

    schema = action_schema("dismiss")
    action = "dismiss"
    refusal = "only a finished task can be dismissed."

    def act(self, tasks: AsyncTaskQuerySet) -> Response | None:
        return Response(status=status.HTTP_204_NO_CONTENT) if tasks.dismiss() else None


class DismissFinishedView(TaskAPIView):
    """``POST``: the owner clears every finished task of their list, in one statement. 200
    with ``{"dismissed": <how many>}``."""

    schema = action_schema("dismiss-finished")

    def post(self, request: Request) -> HttpResponse:
        if get_settings().BASE_URL:
            return remote.forward(request._request, "tasks/dismiss-finished/", method="POST")
        try:
            with bounded():
                dismissed = _persons_tasks(request).dismiss()
        except DatabaseError:
            logger.warning("The finished tasks could not be dismissed in time.", exc_info=True)
            return busy_response()
        return Response({"dismissed": dismissed})


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
            base = list_path
            self.patterns = [
                path(base, TaskListView.as_view(), name="task-list"),
                path(f"{base}<uuid:uuid>/cancel/", TaskCancelView.as_view(), name="task-cancel"),
                path(f"{base}<uuid:uuid>/dismiss/", TaskDismissView.as_view(), name="task-dismiss"),
                path(
                    f"{base}dismiss-finished/",
                    DismissFinishedView.as_view(),
                    name="task-dismiss-finished",
                ),
            ]
            response: Response = super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]
            return response
