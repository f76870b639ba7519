"""``serve_streams``: the site's ASGI application, with the task streams served at their cheapest.

::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from osis_async.asgi import serve_streams

    application = serve_streams(get_asgi_application())

A task stream is opened by Django as any request is: every middleware, the project's DRF
authentication, the view. Without this wrapper Django then keeps the request, the response,
their middleware's objects and two tasks for as long as the stream lasts (hours). With it, the
view hands the open stream over and Django's request ends at once: what stays is the stream
itself, a few hundred bytes, plus the server's connection. Every other request goes through
unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The scope key under which the view finds where to hand its stream over.
HANDOFF = "osis_async.stream_handoff"


class Handoff:
    """Where the stream view leaves the open stream for the server to serve, and the ``send``
    Django's handler gets: it holds back what Django sends once the stream is handed over."""

    __slots__ = ("stream", "held", "_send")

    def __init__(self, send: Send) -> None:
        self.stream: Any = None
        self.held: list[Message] = []
        self._send = send

    async def __call__(self, message: Message) -> None:
        if self.stream is None:
            await self._send(message)
        else:
            self.held.append(message)


def serve_streams(application: ASGIApp) -> ASGIApp:
    """``application``, serving the task streams its views open after their request ends."""

    async def osis_async_streams(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await application(scope, receive, send)
            return
        handoff = scope[HANDOFF] = Handoff(send)
        await application(scope, receive, handoff)
        del scope[HANDOFF]
        stream, held = handoff.stream, handoff.held
        if stream is None:
            return
        start = held[0] if held else {}
        if start.get("type") != "http.response.start" or start.get("status") != 200:
            # Something after the view (a middleware) answered otherwise: pass that on.
            stream.cancel()
            for message in held:
                await send(message)
            return
        # The headers of the view's response (and its middleware's), without its empty body.
        start["headers"] = [
            (name, value)
            for name, value in start.get("headers", [])
            if name.lower() != b"content-length"
        ]
        await send(start)
        # Nothing of the request is kept while the stream lasts (hours): only the stream.
        del handoff, held, start
        await stream.serve(receive, send)

    return osis_async_streams
