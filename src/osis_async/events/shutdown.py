"""Ending open streams when the server process is told to stop.

ASGI servers wait for open responses before they exit, and a stream never ends by itself: it
would hold the server until its graceful-shutdown timeout. So the first stream of an event loop
puts a handler in front of the process's SIGINT and SIGTERM handlers: it sets an event that
every stream of that loop watches (each sends ``shutdown`` and ends), then calls the handler
that was there before (the server's own, which goes on with its shutdown), or, when there was
none, does what the signal does by default.

Outside the main thread (a server that runs its loop elsewhere) handlers cannot be set; the
server's graceful-shutdown timeout then ends the streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

_events: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
_listeners: dict[asyncio.AbstractEventLoop, list[Callable[[], None]]] = {}


def shutting_down(on_stop: Callable[[], None] | None = None) -> asyncio.Event:
    """The event set when this process is told to stop; ``on_stop`` is called then too (in
    the running loop), once per loop."""
    loop = asyncio.get_running_loop()
    if loop not in _events:
        for stale in [other for other in _events if other.is_closed()]:
            del _events[stale]
            _listeners.pop(stale, None)
        _events[loop] = asyncio.Event()
        _listeners[loop] = [on_stop] if on_stop is not None else []
        for signum in (signal.SIGINT, signal.SIGTERM):
            _chain(signum, loop)
    return _events[loop]


def _chain(signum: int, loop: asyncio.AbstractEventLoop) -> None:
    previous = signal.getsignal(signum)

    def stop() -> None:
        _events[loop].set()
        for listener in _listeners.get(loop, ()):
            listener()

    def handler(received: int, frame: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            loop.call_soon_threadsafe(stop)
        if callable(previous):
            previous(received, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(received, signal.SIG_DFL)
            os.kill(os.getpid(), received)

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signum, handler)
