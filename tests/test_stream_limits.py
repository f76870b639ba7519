"""The task stream's limits: GET only, caps per person and per process, sessions re-checked at
every keep-alive, a busy database, and ``serve_streams`` serving the streams after Django's
request has ended."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.sessions.models import Session
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished
from django.test import AsyncClient, Client, override_settings

from osis_async.asgi import serve_streams
from osis_async.events.hub import get_hub
from osis_async.utils import update_task

STREAM = "/osis_async/tasks/stream/"

pytestmark = pytest.mark.django_db(transaction=True)


async def events_until(response: Any, names: set[str], timeout: float = 10) -> list[str]:
    """The event names of a Django-served stream, read until one of ``names`` arrives."""
    seen: list[str] = []

    async def read() -> None:
        async for chunk in response.streaming_content:
            for line in chunk.decode().splitlines():
                if line.startswith("event: "):
                    seen.append(line.removeprefix("event: "))
            if names & set(seen):
                return

    await asyncio.wait_for(read(), timeout)
    return seen


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE"])
def test_the_stream_takes_get_only(user: Any, method: str) -> None:
    async def run() -> Any:
        client = AsyncClient()
        await client.aforce_login(user)
        return await client.generic(method, STREAM)

    response = async_to_sync(run)()
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    if method != "HEAD":
        assert method in response.json()["detail"]


class ASGIClient:
    """A client speaking ASGI to an application directly: one request, its messages."""

    def __init__(self, application: Any, path: str, cookie: str) -> None:
        self.application = application
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.messages: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self._disconnect = asyncio.Event()
        self._sent_request = False

    async def receive(self) -> dict[str, Any]:
        if not self._sent_request:
            self._sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.arrived.set()

    def disconnect(self) -> None:
        self._disconnect.set()

    def events(self) -> list[str]:
        body = b"".join(m.get("body", b"") for m in self.messages[1:])
        return [line[7:] for line in body.decode().splitlines() if line.startswith("event: ")]

    async def wait_for(self, name: str, timeout: float = 10) -> None:
        async def seen() -> None:
            while name not in self.events():
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(seen(), timeout)


async def hub_at_rest() -> None:
    """Until the hub's catch-up after its source started is read: SQLite's shared in-memory
    test database refuses a write while another connection reads ("table is locked")."""
    checker = get_hub()._checker
    if checker is not None:
        await asyncio.wait_for(asyncio.shield(checker), 5)


def cookie_of(user: Any) -> str:
    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}"


def applications() -> dict[str, Any]:
    return {"serve_streams": serve_streams(ASGIHandler()), "django": ASGIHandler()}


@pytest.fixture(params=["serve_streams", "django"])
def served_by(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def open_stream(served_by: str, cookie: str) -> tuple[ASGIClient, asyncio.Future[Any]]:
    client = ASGIClient(applications()[served_by], STREAM, cookie)
    serving = asyncio.ensure_future(client.application(client.scope, client.receive, client.send))
    await asyncio.wait_for(client.arrived.wait(), 10)
    return client, serving


async def end(client: ASGIClient, serving: asyncio.Future[Any]) -> None:
    client.disconnect()
    await asyncio.wait_for(serving, 5)


@override_settings(OSIS_ASYNC_STREAM_MAX_PER_PERSON=2)
def test_a_person_past_the_cap_gets_a_json_429_until_a_stream_ends(
    user: Any, served_by: str
) -> None:
    cookie = cookie_of(user)

    async def run() -> None:
        first, first_serving = await open_stream(served_by, cookie)
        second, second_serving = await open_stream(served_by, cookie)
        for client in (first, second):
            await client.wait_for("ready")
        refused, refused_serving = await open_stream(served_by, cookie)
        await asyncio.wait_for(refused_serving, 5)
        start, body = refused.messages[0], refused.messages[1]
        assert start["status"] == 429
        headers = dict(start["headers"])
        assert headers[b"Content-Type"] == b"application/json"
        assert int(headers[b"Retry-After"]) > 0
        assert "Poll the task list" in json.loads(body["body"])["detail"]
        await end(first, first_serving)
        assert get_hub().open_streams == 1
        again, again_serving = await open_stream(served_by, cookie)
        await again.wait_for("ready")
        await end(second, second_serving)
        await end(again, again_serving)
        assert get_hub().open_streams == 0

    async_to_sync(run)()


@override_settings(OSIS_ASYNC_STREAM_MAX_PER_PROCESS=2)
def test_a_full_process_gets_a_json_429(
    user: Any, other_user: Any, make_user: Callable[..., Any]
) -> None:
    cookies = [cookie_of(person) for person in (user, other_user, make_user("carol"))]

    async def run() -> None:
        opened = [await open_stream("serve_streams", cookie) for cookie in cookies[:2]]
        for client, _ in opened:
            await client.wait_for("ready")
        refused, refused_serving = await open_stream("serve_streams", cookies[2])
        await asyncio.wait_for(refused_serving, 5)
        assert refused.messages[0]["status"] == 429
        assert "server" in json.loads(refused.messages[1]["body"])["detail"]
        for client, serving in opened:
            await end(client, serving)

    async_to_sync(run)()


@pytest.mark.parametrize("ending", ["session deleted", "password changed"])
@override_settings(OSIS_ASYNC_STREAM_KEEPALIVE=0.2)
def test_a_stream_ends_at_the_keepalive_after_its_session_does(
    user: Any, make_task: Callable[..., Any], ending: str
) -> None:
    make_task(person=user)
    browser = Client()
    browser.force_login(user)
    key = browser.cookies["sessionid"].value

    def end_session() -> None:
        if ending == "session deleted":
            Session.objects.filter(session_key=key).delete()
        else:
            user.set_password("a new one")
            user.save()

    async def run() -> list[str]:
        client = AsyncClient()
        client.cookies["sessionid"] = key
        response = await client.get(STREAM)
        assert "ready" in await events_until(response, {"ready"})
        await sync_to_async(end_session)()
        return await events_until(response, {"logout"}, timeout=3)

    assert async_to_sync(run)()[-1] == "logout"


@override_settings(OSIS_ASYNC_STREAM_KEEPALIVE=0.2)
def test_a_valid_session_keeps_its_stream(user: Any, make_task: Callable[..., Any]) -> None:
    task = make_task(person=user)
    browser = Client()
    browser.force_login(user)

    async def run() -> list[str]:
        client = AsyncClient()
        client.cookies["sessionid"] = browser.cookies["sessionid"].value
        response = await client.get(STREAM)
        assert "ready" in await events_until(response, {"ready"})
        await asyncio.sleep(1.0)  # five keep-alives, each re-checking the session
        await sync_to_async(update_task)(task.uuid, progression=5)
        return await events_until(response, {"changed", "logout"})

    assert async_to_sync(run)()[-1] == "changed"


def test_serve_streams_serves_the_stream_after_djangos_request_ended(
    user: Any, make_task: Callable[..., Any]
) -> None:
    task = make_task(person=user)
    browser = Client()
    browser.force_login(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    finished: list[bool] = []

    def on_finished(**kwargs: Any) -> None:
        finished.append(True)

    async def run() -> ASGIClient:
        client = ASGIClient(serve_streams(ASGIHandler()), STREAM, cookie)
        serving = asyncio.ensure_future(
            client.application(client.scope, client.receive, client.send)
        )
        await client.wait_for("ready")
        # Django's request is over while the stream goes on.
        assert finished, "Django's request did not end before the stream was served"
        await sync_to_async(update_task)(task.uuid, progression=40)
        await client.wait_for("changed")
        assert get_hub().open_streams == 1
        client.disconnect()
        await asyncio.wait_for(serving, 5)
        assert get_hub().open_streams == 0
        return client

    request_finished.connect(on_finished)
    try:
        client = async_to_sync(run)()
    finally:
        request_finished.disconnect(on_finished)
    start = client.messages[0]
    assert start["status"] == 200
    headers = {name.lower(): value for name, value in start["headers"]}
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert b"content-length" not in headers
    # What the middleware added to the view's response came along: the session's Vary.
    assert b"Cookie" in headers[b"vary"]
    assert client.events()[:2] == ["ready", "changed"]


def test_serve_streams_passes_every_other_answer_on(user: Any) -> None:
    async def run() -> list[dict[str, Any]]:
        anonymous = ASGIClient(serve_streams(ASGIHandler()), STREAM, "")
        await asyncio.wait_for(
            anonymous.application(anonymous.scope, anonymous.receive, anonymous.send), 5
        )
        listing = ASGIClient(serve_streams(ASGIHandler()), "/osis_async/tasks/", "")
        await asyncio.wait_for(listing.application(listing.scope, listing.receive, listing.send), 5)
        return [anonymous.messages[0], listing.messages[0]]

    stream_start, list_start = async_to_sync(run)()
    assert stream_start["status"] == 403
    assert list_start["status"] in (401, 403)
