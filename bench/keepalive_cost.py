"""CPU per stream keep-alive in one process: Django's ASGI handler and the stream, no server.

    .venv/bin/python bench/keepalive_cost.py [--streams 50] [--keepalive 0.05] [--seconds 5]

Opens ``--streams`` streams on the list's stream endpoint through ``django.core.asgi`` (each
with a session of its own, on the PostgreSQL database of ``bench/list_endpoint.py``), with
``OSIS_ASYNC_STREAM_KEEPALIVE = --keepalive``, and divides the process's CPU time over
``--seconds`` by the chunks sent. What a server and the kernel add comes on top
(``bench/load_profile.py`` measures the whole).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def session_keys(count: int) -> list[str]:
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for user in get_user_model().objects.order_by("id")[:count]:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys


async def measure(app: Any, keys: list[str], seconds: float) -> tuple[int, float]:
    stop = asyncio.Event()
    chunks = [0]

    async def stream(key: str) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/osis_async/tasks/stream/",
            "raw_path": b"/osis_async/tasks/stream/",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"cookie", f"sessionid={key}".encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await stop.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise SystemExit(f"The stream answered {message['status']}.")
            if message["type"] == "http.response.body":
                chunks[0] += 1

        await app(scope, receive, send)

    streams = [asyncio.create_task(stream(key)) for key in keys]
    await asyncio.sleep(2)  # every stream open and past its first keep-alive
    sent, used = chunks[0], cpu_seconds()
    await asyncio.sleep(seconds)
    sent, used = chunks[0] - sent, cpu_seconds() - used
    stop.set()
    await asyncio.gather(*streams, return_exceptions=True)
    return sent, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--keepalive", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    import django

    from bench.list_endpoint import ensure_database, populate

    ensure_database()
    django.setup()
    populate(100_000, 1_000)
    from django.core.asgi import get_asgi_application
    from django.test import override_settings

    override_settings(OSIS_ASYNC_STREAM_KEEPALIVE=args.keepalive).enable()
    from django.db import connections

    keys = session_keys(args.streams)
    connections.close_all()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    sent, used = run(measure(get_asgi_application(), keys, args.seconds))
    print(
        f"{args.streams} streams, keep-alive every {args.keepalive} s, {args.seconds} s: "
        f"{sent:,} chunks, {used * 1e6 / max(sent, 1):.1f} µs of CPU per chunk"
    )


if __name__ == "__main__":
    main()
