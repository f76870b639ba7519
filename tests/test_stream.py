"""The server-sent events stream, under a real ASGI server (uvicorn) on PostgreSQL, and in
process through Django's ASGI handler on any database."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from django.test import AsyncClient, Client, override_settings

from osis_async.events.hub import Hub
from osis_async.events.sources import CHANNEL, PollingSource
from osis_async.models import TaskState
from osis_async.utils import update_task

ROOT = Path(__file__).resolve().parent.parent
LIST = "/osis_async/tasks/"
STREAM = "/osis_async/tasks/stream/"


@pytest.mark.django_db
def test_wsgi_has_no_stream_and_says_so(user_client: Client) -> None:
    response = user_client.get(STREAM)
    assert response.status_code == 501
    assert "ASGI" in response.json()["detail"]
    assert "Link" not in user_client.get(LIST)


@pytest.mark.django_db(transaction=True)
def test_asgi_list_advertises_the_stream(user: Any) -> None:
    async def run() -> Any:
        client = AsyncClient()
        await client.aforce_login(user)
        return await client.get(LIST)

    response = async_to_sync(run)()
    assert response["Link"] == f'<{STREAM}>; rel="osis-async-stream"'


@pytest.mark.django_db(transaction=True)
def test_anonymous_stream_is_refused_with_json() -> None:
    response = async_to_sync(AsyncClient().get)(STREAM)
    assert response.status_code in (401, 403)
    assert response.json()["detail"] == "Authentication credentials were not provided."


def read_events(response: Any, until: Callable[[list[tuple[str, Any]]], bool]) -> list[Any]:
    events: list[tuple[str, Any]] = []

    async def consume() -> None:
        name = None
        async for chunk in response.streaming_content:
            for line in chunk.decode().splitlines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((name or "", json.loads(line.removeprefix("data: "))))
            if until(events):
                return

    async_to_sync(asyncio.wait_for)(consume(), 10)
    return events


@pytest.mark.django_db(transaction=True)
def test_in_process_change_reaches_the_stream(user: Any, make_task: Callable[..., Any]) -> None:
    task = make_task(person=user)

    async def run() -> list[Any]:
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(STREAM)
        assert response["Content-Type"] == "text/event-stream; charset=utf-8"
        events: list[Any] = []
        name = None
        async for chunk in response.streaming_content:
            for line in chunk.decode().splitlines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                    events.append(name)
            if name == "ready":
                await sync_to_async(update_task)(task.uuid, progression=55)
                name = None
            if "changed" in events:
                return events
        return events

    events = async_to_sync(asyncio.wait_for)(run(), 10)
    assert events == ["ready", "changed"]


@pytest.mark.django_db(transaction=True)
def test_keep_alives_keep_their_period_and_the_stream_ends_at_its_maximum_age(
    user: Any, make_task: Callable[..., Any]
) -> None:
    task = make_task(person=user)

    async def change() -> None:
        # Half-way between two keep-alives.
        await asyncio.sleep(0.45)
        await sync_to_async(update_task)(task.uuid, progression=70)

    async def run() -> list[tuple[float, str]]:
        changing = None
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(STREAM)
        seen: list[tuple[float, str]] = []
        started = time.monotonic()
        async for chunk in response.streaming_content:
            for line in chunk.decode().splitlines():
                if line.startswith((": ", "event: ")):
                    seen.append((time.monotonic() - started, line))
            if seen and seen[-1][1] == "event: ready":
                changing = asyncio.create_task(change())
            if seen and seen[-1][1] == "event: reconnect":
                break
        assert changing is not None
        await changing
        return seen

    with override_settings(OSIS_ASYNC_STREAM_KEEPALIVE=0.3, OSIS_ASYNC_STREAM_MAX_AGE=2.0):
        seen = async_to_sync(asyncio.wait_for)(run(), 10)
    lines = [line for _at, line in seen]
    assert lines[0] == "event: ready" and lines[-1] == "event: reconnect"
    assert "event: changed" in lines
    assert lines.count(": keep-alive") >= 4
    # Never longer than a keep-alive period without a byte, the change included.
    times = [at for at, _line in seen]
    assert max(b - a for a, b in itertools.pairwise(times)) < 2 * 0.3, seen
    assert 2.0 <= times[-1] < 2.0 + 0.5, "the stream ends at its maximum age"


def test_polling_source_sees_changes_from_any_connection(
    transactional_db: None, user: Any, make_task: Callable[..., Any]
) -> None:
    task = make_task(person=user)

    async def run() -> frozenset[str]:
        source = PollingSource(0.05)
        hub = Hub(source)
        changes = source.changes(hub)
        first = asyncio.ensure_future(changes.__anext__())
        await asyncio.sleep(0.2)
        await sync_to_async(update_task)(task.uuid, state=TaskState.PROCESSING)
        found = await asyncio.wait_for(first, 5)
        assert hub.source_ready.is_set()
        await changes.aclose()
        return found.persons

    assert async_to_sync(run)() == {str(user.pk)}


# A real uvicorn process on the PostgreSQL test database: changes from this process reach it
# through the table's trigger and LISTEN/NOTIFY.


@pytest.fixture
def server(transactional_db: None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    if connection.vendor != "postgresql":
        pytest.skip("cross-process notifications run on PostgreSQL (OSIS_ASYNC_TEST_DB=postgres)")
    # The socket is bound here and handed to uvicorn, so no other run can take the port.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    env = {
        **os.environ,
        "OSIS_ASYNC_TEST_DB": "postgres",
        "OSIS_ASYNC_TEST_DB_NAME": connection.settings_dict["NAME"],
        "DJANGO_SETTINGS_MODULE": "tests.stream_settings",
        "OSIS_ASYNC_STREAM_KEEPALIVE": "0.5",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.asgi:application",
            "--fd",
            str(sock.fileno()),
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "30",
        ],
        cwd=ROOT,
        env=env,
        pass_fds=[sock.fileno()],
    )
    sock.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(base + LIST, timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("uvicorn did not start")
            time.sleep(0.1)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def session_cookie(user: Any) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


class EventReader:
    """Reads a stream in a thread, keeping each event with the time it arrived."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        self.events: list[tuple[float, str, Any]] = []
        self.comments = 0
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, cookies), daemon=True)
        self._thread.start()

    def _read(self, url: str, cookies: dict[str, str]) -> None:
        name = ""
        try:
            with httpx.stream("GET", url, cookies=cookies, timeout=30) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments += 1
                    elif line.startswith("event: "):
                        name = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        data = json.loads(line.removeprefix("data: "))
                        self.events.append((time.monotonic(), name, data))
        except httpx.HTTPError:
            pass
        finally:
            self.closed.set()

    def wait_for(self, name: str, after: float = 0.0, timeout: float = 10) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, event, _ in self.events:
                if event == name and at >= after:
                    return at
            time.sleep(0.01)
        raise AssertionError(f"no {name!r} event; got {[e[1] for e in self.events]}")


@pytest.mark.postgres
def test_a_change_in_another_process_arrives_within_a_second(
    server: tuple[str, Any], user: Any, other_user: Any, make_task: Callable[..., Any]
) -> None:
    base, _ = server
    task = make_task(person=user)
    reader = EventReader(base + STREAM, session_cookie(user))
    reader.wait_for("ready")
    time.sleep(0.3)
    before = time.monotonic()
    update_task(task.uuid, progression=30)
    arrived = reader.wait_for("changed", after=before)
    assert arrived - before < 1.0

    # Another person's change is not theirs to hear of.
    theirs = make_task(person=other_user)
    settle = time.monotonic()
    update_task(theirs.uuid, progression=10)
    time.sleep(1.0)
    assert [name for at, name, _ in reader.events if at >= settle] == []

    # Keep-alive comments flow while nothing changes (every 0.5 s in this server).
    assert reader.comments >= 1


@pytest.mark.postgres
def test_changes_still_arrive_after_the_listening_connection_is_lost(
    server: tuple[str, Any], user: Any, make_task: Callable[..., Any]
) -> None:
    base, _ = server
    task = make_task(person=user)
    reader = EventReader(base + STREAM, session_cookie(user))
    reader.wait_for("ready")

    def listeners() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                # This database's only: other test runs may share the server.
                "SELECT pid FROM pg_stat_activity WHERE query = %s AND pid <> pg_backend_pid() "
                "AND datname = current_database()",
                [f"LISTEN {CHANNEL}"],
            )
            return [pid for (pid,) in cursor.fetchall()]

    deadline = time.monotonic() + 10
    while not listeners():
        assert time.monotonic() < deadline, "the server never listened"
        time.sleep(0.05)
    (listener,) = listeners()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [listener])
    deadline = time.monotonic() + 10
    while not [pid for pid in listeners() if pid != listener]:
        assert time.monotonic() < deadline, "the server did not listen again"
        time.sleep(0.1)
    before = time.monotonic()
    update_task(task.uuid, progression=55)
    arrived = reader.wait_for("changed", after=before)
    assert arrived - before < 1.0


@pytest.mark.postgres
def test_the_stream_ends_on_logout(server: tuple[str, Any], user: Any) -> None:
    base, _ = server
    client = Client()
    client.force_login(user)
    reader = EventReader(base + STREAM, {"sessionid": client.cookies["sessionid"].value})
    reader.wait_for("ready")
    client.logout()
    reader.wait_for("logout", timeout=5)
    assert reader.closed.wait(5)


@pytest.mark.postgres
def test_the_stream_ends_cleanly_on_server_shutdown(server: tuple[str, Any], user: Any) -> None:
    base, process = server
    reader = EventReader(base + STREAM, session_cookie(user))
    reader.wait_for("ready")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    reader.wait_for("shutdown", timeout=5)
    assert reader.closed.wait(5)
    # uvicorn re-raises the signal it handled once it has shut down.
    assert process.wait(10) in (0, -signal.SIGTERM)
    # Well before uvicorn's 30 s graceful-shutdown timeout: the stream did not hold it up.
    assert time.monotonic() - started < 10


@pytest.mark.django_db(transaction=True)
@override_settings(
    OSIS_ASYNC_CHANGE_SOURCE="redis", OSIS_ASYNC_REDIS_URL="redis://127.0.0.1:6379/15"
)
def test_redis_pub_sub_carries_changes(user: Any, make_task: Callable[..., Any]) -> None:
    task = make_task(person=user)

    async def run() -> list[str]:
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(STREAM)
        names: list[str] = []
        async for chunk in response.streaming_content:
            names += [
                line.removeprefix("event: ")
                for line in chunk.decode().splitlines()
                if line.startswith("event: ")
            ]
            if names == ["ready"]:
                await asyncio.sleep(0.3)  # the hub's subscription is in place
                await sync_to_async(update_task)(task.uuid, description="via Redis")
            if "changed" in names:
                break
        return names

    assert async_to_sync(asyncio.wait_for)(run(), 10) == ["ready", "changed"]
