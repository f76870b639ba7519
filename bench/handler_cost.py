"""What one list request costs through Django's WSGI handler and through its ASGI handler.

    .venv/bin/python bench/handler_cost.py [--requests 200] [--rounds 10]

No server and no network: the demo's application (``bench/load_settings.py``: its middleware,
``DEBUG = False``, PostgreSQL with psycopg's pool for both handlers, so only the handler
differs) is called in this process, one request at a time, ``GET /osis_async/tasks/?limit=15``
with a logged-in session. Rounds of ``--requests`` requests alternate between the two handlers
(the ASGI one on uvloop); the medians of the rounds' wall and CPU milliseconds per request are
reported, with the number of ``sync_to_async`` calls an ASGI request makes: Django runs every
hook of a sync middleware, and a sync view, in a thread of the request's own (a new one per
request), and each call is a hand-over to that thread and back to the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as bench/handler_cost.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.loadkit import seed  # noqa: E402

DATABASE = "osis_async_handler_cost"
PATH, QUERY = "/osis_async/tasks/", "limit=15"


def wsgi_round(app: Any, session_key: str, requests: int) -> tuple[float, float]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": QUERY,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": f"sessionid={session_key}",
        "HTTP_ACCEPT_LANGUAGE": "en",
        "wsgi.url_scheme": "http",
    }
    statuses: list[str] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        body = app({**environ, "wsgi.input": io.BytesIO()}, lambda s, h: statuses.append(s))
        b"".join(body)
        body.close()
    assert statuses == ["200 OK"] * requests, set(statuses)
    return (time.perf_counter() - wall) / requests, (time.process_time() - cpu) / requests


async def asgi_round(app: Any, session_key: str, requests: int) -> tuple[float, float]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": QUERY.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"cookie", f"sessionid={session_key}".encode()),
            (b"accept-language", b"en"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        received = False
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.get_running_loop().create_future()  # no disconnect
            raise AssertionError

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        await app(scope, receive, send)
        assert sent[0]["status"] == 200, sent[0]
    return (time.perf_counter() - wall) / requests, (time.process_time() - cpu) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of each handler")
    args = parser.parse_args()

    os.environ["DEMO_DB_POOL"] = "1"
    os.environ["DEMO_DEBUG"] = "0"
    (session_key,) = seed(DATABASE, 1, prefix="handler")
    import uvloop
    from asgiref import sync
    from django.core.asgi import get_asgi_application
    from django.core.wsgi import get_wsgi_application

    calls = 0
    original = sync.SyncToAsync.__call__

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(self, *args, **kwargs)

    sync.SyncToAsync.__call__ = counted  # type: ignore[method-assign]
    wsgi, asgi = get_wsgi_application(), get_asgi_application()
    results: dict[str, list[tuple[float, float]]] = {"WSGI": [], "ASGI": []}
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        wsgi_round(wsgi, session_key, 50)  # warm-up: imports, the pool, the plan
        runner.run(asgi_round(asgi, session_key, 50))
        calls = 0
        for _ in range(args.rounds):
            results["WSGI"].append(wsgi_round(wsgi, session_key, args.requests))
            results["ASGI"].append(runner.run(asgi_round(asgi, session_key, args.requests)))
    hops = calls / (args.rounds * args.requests)

    print(f"{args.rounds} rounds of {args.requests} requests per handler, GET {PATH}?{QUERY}")
    print(f"{'handler':<8}{'wall ms':>9}{'CPU ms':>8}")
    for name, rounds in results.items():
        wall = statistics.median(w for w, _ in rounds) * 1000
        cpu = statistics.median(c for _, c in rounds) * 1000
        print(f"{name:<8}{wall:>9.2f}{cpu:>8.2f}")
    print(f"sync_to_async calls per ASGI request: {hops:.1f}")


if __name__ == "__main__":
    main()
