"""The server-sent events endpoint: ``changed`` whenever the requesting person's list changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.utils.crypto import constant_time_compare
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from osis_async.conf import get_settings
from osis_async.events.hub import get_hub, shutting_down
from osis_async.events.sources import source_name
from osis_async.listing import person_version
from osis_async.persons import get_person

#: What the browser waits before reconnecting after the server ends a stream, in milliseconds.
RETRY_MS = 2000
#: A comment line: it keeps proxies from closing an idle stream, and the browser ignores it.
#: Bytes, as every event: Django passes them on as they are, without looking up a charset.
KEEPALIVE = b": keep-alive\n\n"


def stream_available(request: HttpRequest) -> bool:
    """Whether this request's server can hold a stream: ASGI, the stream on, not remote mode."""
    conf = get_settings()
    return conf.STREAM and not conf.BASE_URL and isinstance(request, ASGIRequest)


async def task_stream(request: HttpRequest) -> HttpResponseBase:
    """``text/event-stream`` of the requesting person's changes; 501 under WSGI."""
    if not stream_available(request):
        return JsonResponse(
            {"detail": "The task stream needs an ASGI server; poll the task list instead."},
            status=501,
        )
    identity = await sync_to_async(_authenticate)(request)
    if isinstance(identity, JsonResponse):
        return identity
    user, person = identity
    response = StreamingHttpResponse(
        _events(request, user, person), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on at once
    return response


def _authenticate(request: HttpRequest) -> tuple[Any, Any] | JsonResponse:
    from osis_async.views import authentication_classes

    drf_request = Request(request, authenticators=[cls() for cls in authentication_classes()])
    try:
        user = drf_request.user
        if user is None or not user.is_authenticated:
            return JsonResponse(
                {"detail": "Authentication credentials were not provided."}, status=403
            )
        request.user = user
        return user, get_person(request)
    except APIException as error:
        return JsonResponse({"detail": str(error.detail)}, status=error.status_code)
    finally:
        _release_connections()


async def _events(request: HttpRequest, user: Any, person: Any) -> AsyncIterator[bytes]:
    conf = get_settings()
    yield f"retry: {RETRY_MS}\n\n".encode()
    if person is None:
        yield _event("ready", {"version": None})
        return
    hub = get_hub()
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    # PostgreSQL and Redis carry logouts from any process; polling only sees this process's.
    check_session = source_name() == "polling"
    stopping = shutting_down()
    async with hub.subscribe(person.pk, session_key) as subscription:
        await hub.wait_until_listening()
        version = await sync_to_async(_version)(person)
        yield _event("ready", {"version": _token(version)})
        expiry = asyncio.get_running_loop().call_later(conf.STREAM_MAX_AGE, subscription.expire)
        try:
            while True:
                await subscription.wake.wait()
                subscription.wake.clear()
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
                    latest = await sync_to_async(_version)(person)
                    if latest != version:
                        version = latest
                        yield _event("changed", {"version": _token(version)})
                        sent = True
                if subscription.keepalive:
                    subscription.keepalive = False
                    if check_session and not await sync_to_async(_still_signed_in)(request, user):
                        yield _event("logout", {})
                        return
                    if not sent:
                        yield KEEPALIVE
        finally:
            expiry.cancel()
    yield _event("reconnect", {})


def _version(person: Any) -> Any:
    try:
        return person_version(person)
    finally:
        _release_connections()


def _release_connections() -> None:
    """A stream lasts an hour or more: it must not hold a database connection all that time
    (``CONN_MAX_AGE`` would let it), so it gives back the one it used at once."""
    connections.close_all()


def _token(version: Any) -> str:
    count, latest = version
    return f"{count}:{latest}"


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _still_signed_in(request: HttpRequest, user: Any) -> bool:
    """A stream opened with a session ends when that session does (logout, expiry, flush)."""
    session = getattr(request, "session", None)
    if session is None or session.session_key is None:
        return True
    store = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
    try:
        data = store.load()
    finally:
        _release_connections()
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False
    expected = getattr(user, "get_session_auth_hash", lambda: "")()
    return not expected or constant_time_compare(data.get(HASH_SESSION_KEY, ""), expected)
