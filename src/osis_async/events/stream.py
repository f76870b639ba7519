"""The server-sent events endpoint: ``changed`` whenever the requesting person's list changes.

An open stream holds no thread and no database connection: its opening is one job on the
streams' database thread (who is asking, their list's version), waited for at most
``OSIS_ASYNC_DB_TIMEOUT`` (then a 503), and from then on it waits for its hub to wake it
(``events.hub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import SyncToAsync
from django.core.handlers.asgi import ASGIRequest
from django.db import DatabaseError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from osis_async.asgi import HANDOFF, Handoff, Receive, Send
from osis_async.authentication import authentication_classes
from osis_async.busy import bounded, busy_response
from osis_async.conf import get_settings
from osis_async.events.hub import Admission, Refusal, Subscription, get_hub
from osis_async.events.shutdown import shutting_down
from osis_async.listing import person_versions, version_token
from osis_async.persons import get_person

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/event-stream; charset=utf-8"
#: What the browser waits before reconnecting after the server ends a stream, in milliseconds.
RETRY_MS = 2000
#: A comment line: it keeps proxies from closing an idle stream, and the browser ignores it.
#: Bytes, as every event: Django passes them on as they are, without looking up a charset.
KEEPALIVE = b": keep-alive\n\n"
#: Seconds a client refused for a cap is asked to wait.
FULL_RETRY_AFTER = 60
#: Openings waiting for the streams' database thread at most; past it a 503.
MAX_OPENING_BACKLOG = 1000
#: A stream lasts its maximum age plus up to this fraction of it, so streams opened together do
#: not all reconnect together.
MAX_AGE_SPREAD = 0.1


@dataclass(frozen=True, slots=True)
class Identity:
    """Who opened a stream, as the stream needs it once open."""

    user_id: str
    person: str | None
    session_key: str | None
    version: str | None


def stream_available(request: HttpRequest) -> bool:
    """Whether this request's server can hold a stream: ASGI, the stream on, not remote mode."""
    conf = get_settings()
    return conf.STREAM and not conf.BASE_URL and isinstance(request, ASGIRequest)


async def task_stream(request: HttpRequest) -> HttpResponseBase:
    """``text/event-stream`` of the requesting person's changes; 501 under WSGI."""
    if request.method != "GET":
        refused = JsonResponse(
            {"detail": f"Method {request.method!r} is not allowed; the task stream takes GET."},
            status=405,
        )
        refused["Allow"] = "GET"
        return refused
    if not stream_available(request):
        return JsonResponse(
            {"detail": "The task stream needs an ASGI server; poll the task list instead."},
            status=501,
        )
    hub = get_hub()
    if hub.full():
        return _refused("This server holds as many task streams as it allows.")
    if hub.database.backlog > MAX_OPENING_BACKLOG:
        return busy_response()
    sequence = hub.sequence
    try:
        # Its turn on the streams' database thread included: under a lock on the table each
        # job there takes the whole timeout, and the openings would wait for one another.
        identity = await asyncio.wait_for(
            hub.database.run(_identify, request), get_settings().DB_TIMEOUT
        )
    except (DatabaseError, asyncio.TimeoutError):
        logger.warning("A task stream could not be opened in time.", exc_info=True)
        return busy_response()
    if isinstance(identity, JsonResponse):
        return identity
    admission: Admission | None = None
    if identity.person is not None:
        admitted = hub.admit(identity.person)
        if isinstance(admitted, Refusal):
            return _refused(admitted.reason)
        admission = admitted
        admission.sequence = sequence
    stream = EventStream(identity, admission)
    handoff = request.scope.get(HANDOFF) if isinstance(request, ASGIRequest) else None
    response: HttpResponseBase
    if isinstance(handoff, Handoff):
        # serve_streams serves it once this request has ended.
        handoff.stream = stream
        response = HttpResponse(content_type=CONTENT_TYPE)
    else:
        response = StreamingHttpResponse(stream.in_django(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on at once
    return response


def _refused(reason: str) -> JsonResponse:
    response = JsonResponse({"detail": f"{reason} Poll the task list instead."}, status=429)
    response["Retry-After"] = str(FULL_RETRY_AFTER)
    return response


def _identify(request: HttpRequest) -> Identity | JsonResponse:
    """(the streams' database thread) Who asks, with the project's DRF authentication, and
    their list's version."""
    drf_request = Request(request, authenticators=[cls() for cls in authentication_classes()])
    try:
        with bounded():
            user = drf_request.user
            if user is None or not user.is_authenticated:
                return JsonResponse(
                    {"detail": "Authentication credentials were not provided."}, status=403
                )
            request.user = user
            person = get_person(request)
            version = None
            if person is not None:
                key = str(person.pk)
                version = version_token(person_versions([key])[key])
    except APIException as error:
        return JsonResponse({"detail": str(error.detail)}, status=error.status_code)
    session = getattr(request, "session", None)
    return Identity(
        user_id=str(user.pk),
        person=None if person is None else str(person.pk),
        session_key=getattr(session, "session_key", None),
        version=version,
    )


class EventStream:
    """One open stream: its events, served by ``serve_streams`` or by Django."""

    __slots__ = ("identity", "admission", "subscription", "gone")

    def __init__(self, identity: Identity, admission: Admission | None) -> None:
        self.identity = identity
        self.admission = admission
        self.subscription: Subscription | None = None
        #: The client went away.
        self.gone = False

    def cancel(self) -> None:
        """It will not be served after all."""
        if self.admission is not None:
            self.admission.release()

    async def serve(self, receive: Receive, send: Send) -> None:
        """Send the events over ASGI until the stream ends or the client goes."""
        watcher = asyncio.get_running_loop().create_task(self._watch(receive))
        try:
            async with contextlib.aclosing(self.events()) as events:
                async for event in events:
                    await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()

    async def in_django(self) -> AsyncIterator[bytes]:
        """The events for Django's own streaming response."""
        _give_back_request_thread()
        async with contextlib.aclosing(self.events()) as events:
            async for event in events:
                yield event

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self.subscription is not None:
            self.subscription.wake()

    async def events(self) -> AsyncGenerator[bytes, None]:
        identity, admission = self.identity, self.admission
        yield f"retry: {RETRY_MS}\n\n".encode()
        if admission is None or identity.version is None:
            yield _event("ready", {"version": None})
            return
        hub = get_hub()
        stopping = shutting_down(_wake_streams)
        max_age = get_settings().STREAM_MAX_AGE * (1 + MAX_AGE_SPREAD * random.random())
        subscription = self.subscription = hub.subscribe(
            admission,
            session_key=identity.session_key,
            user_id=identity.user_id,
            version=identity.version,
            max_age=max_age,
        )
        try:
            yield _event("ready", {"version": subscription.version})
            while True:
                await subscription.woken()
                if self.gone:
                    return
                if stopping.is_set():
                    yield _event("shutdown", {})
                    return
                if subscription.logged_out:
                    yield _event("logout", {})
                    return
                if subscription.expired:
                    break
                sent = False
                if subscription.changed:
                    subscription.changed = False
                    yield _event("changed", {"version": subscription.version})
                    sent = True
                if subscription.keepalive:
                    subscription.keepalive = False
                    if not sent:
                        yield KEEPALIVE
        finally:
            self.subscription = None
            await hub.unsubscribe(subscription, admission)
        yield _event("reconnect", {})


def _wake_streams() -> None:
    get_hub().wake_all()


def _give_back_request_thread() -> None:
    """Django's ASGI handler keeps a thread for each request's synchronous parts (its signals,
    its middleware) until the response ends. An open stream has none left to run, so the thread
    goes now; the request's last synchronous step (closing the response) gets a fresh one."""
    context_var = getattr(SyncToAsync, "thread_sensitive_context", None)
    executors = getattr(SyncToAsync, "context_to_thread_executor", None)
    if context_var is None or executors is None:
        return
    context = context_var.get(None)
    if context is None or getattr(context, "_executor", None) is not None:
        return  # a context given its own executor by its creator: not ours to stop
    executor = executors.pop(context, None)
    if executor is not None:
        executor.shutdown(wait=False)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
