"""Real servers the tests start, and clients reading them: uvicorn serving ``tests.asgi`` on a
PostgreSQL database (``uvicorn_server``), a task stream read in a thread (``EventReader``)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
LIST = "/osis_async/tasks/"
STREAM = "/osis_async/tasks/stream/"


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def uvicorn_server(
    db_name: str, *, env: dict[str, str] | None = None, graceful_timeout: float = 30
) -> Iterator[Server]:
    """uvicorn serving ``tests.asgi:application`` (``tests.stream_settings``) on the PostgreSQL
    database ``db_name``, keep-alives every 0.5 s; ``env`` adds to (or overrides) its
    environment. Ready (it answered a request) when entered, killed on the way out."""
    # The socket is bound here and handed to uvicorn, so no other run can take the port.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server_env = {
        **os.environ,
        "OSIS_ASYNC_TEST_DB": "postgres",
        "OSIS_ASYNC_TEST_DB_NAME": db_name,
        "DJANGO_SETTINGS_MODULE": "tests.stream_settings",
        "OSIS_ASYNC_STREAM_KEEPALIVE": "0.5",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        **(env or {}),
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
            str(graceful_timeout),
        ],
        cwd=ROOT,
        env=server_env,
        pass_fds=[sock.fileno()],
    )
    sock.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + LIST, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("uvicorn did not start")
                time.sleep(0.1)
        yield Server(base, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def session_cookie(user: Any) -> dict[str, str]:
    """The cookie of a new session of ``user``, made on the test process's database."""
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


class EventReader:
    """Reads a stream in a thread, keeping each event with the time it arrived."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        self.events: list[tuple[float, str, Any]] = []
        self.comments = 0
        self.status: int | None = None
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
        """When the first ``name`` event at or after ``after`` arrived, waiting ``timeout``
        seconds for it at most."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, event, _ in self.events:
                if event == name and at >= after:
                    return at
            time.sleep(0.01)
        raise AssertionError(f"no {name!r} event; got {[e[1] for e in self.events]}")
