"""The test project under an ASGI server, with its static files, for the browser tests
(``uvicorn tests.e2e.asgi:application``): uvicorn serves no static files of its own, and the
task streams are served by ``serve_streams`` as the docs say.

``GET /__open-streams__`` answers how many task streams this server holds open, so a test can
count them on the server rather than in the browser."""

import os
from typing import Any

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

from osis_async.asgi import serve_streams

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.stream_settings")

STREAM_PATH = "/osis_async/tasks/stream/"
COUNT_PATH = "/__open-streams__"


class CountingStreams:
    """Counts the stream requests being answered, from their start to their end."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.open = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"] == COUNT_PATH:
            body = str(self.open).encode()
            headers = [(b"content-type", b"text/plain"), (b"cache-control", b"no-store")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif scope["path"] == STREAM_PATH:
            self.open += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.open -= 1
        else:
            await self.app(scope, receive, send)


application = CountingStreams(serve_streams(ASGIStaticFilesHandler(get_asgi_application())))
