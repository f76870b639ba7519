"""The package's settings: every ``OSIS_ASYNC_*`` name, its default and a cached getter."""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

PREFIX = "OSIS_ASYNC_"

#: What ``manage.py check`` allows for each whole-number setting: ``(lowest, highest, unit)``.
WHOLE_RANGES: dict[str, tuple[int, int, str]] = {
    "PAGE_SIZE": (1, 1_000, "tasks"),
    "MAX_PAGE_SIZE": (1, 1_000, "tasks"),
    "PENDING_TIMEOUT": (1, 52_560_000, "minutes"),  # a century
    "RETENTION": (1, 36_500, "days"),  # a century
    "MAX_DESCRIPTION_LENGTH": (1, 1_000_000, "characters"),
}
#: The longest each setting in seconds may be (all of them must be above 0).
SECONDS_MAXIMA: dict[str, float] = {
    "PROGRESS_INTERVAL": 3_600.0,
    "REMOTE_TIMEOUT": 600.0,
}


@dataclass(frozen=True)
class AsyncSettings:
    #: ``app_label.ModelName`` of the model a task is shown to. Defaults to ``AUTH_USER_MODEL``.
    PERSON_MODEL: str
    #: Dotted path to ``callable(request) -> person | None``; empty for the default lookup.
    PERSON_GETTER: str = ""
    #: Tasks per page when the request gives no ``limit``.
    PAGE_SIZE: int = 15
    #: The largest ``limit`` honoured; larger ones are clamped to it.
    MAX_PAGE_SIZE: int = 100
    #: Minutes a task may stay ``PENDING`` before the TTL sweep gives up on it.
    PENDING_TIMEOUT: int = 24 * 60
    #: Remote mode: base URL of a remote OSIS Async API the list endpoint forwards to.
    BASE_URL: str = ""
    #: Remote mode: value of the ``Authorization`` header sent to the remote API.
    API_AUTHORIZATION: str = ""
    #: Remote mode: seconds to wait for the remote API.
    REMOTE_TIMEOUT: float = 10.0
    #: Origins allowed to read the list endpoint cross-origin.
    DOMAIN_LIST: tuple[str, ...] = ()
    #: Seconds a tracked job waits between two progress writes (Celery / django.tasks).
    PROGRESS_INTERVAL: float = 0.5
    #: Days a finished (``DONE`` or ``ERROR``) task is kept before ``purge_async_tasks`` deletes
    #: it, counted from its ``completed_at`` (its ``updated_at`` when that is empty).
    RETENTION: int = 30
    #: Serve the server-sent events stream of task changes (under ASGI).
    STREAM: bool = True
    #: Where a process learns of changes made by others: ``"auto"`` (``"postgres"`` on
    #: PostgreSQL, ``"redis"`` when ``REDIS_URL`` is set, else ``"polling"``).
    CHANGE_SOURCE: str = "auto"
    #: Redis URL for the ``"redis"`` change source (pub/sub).
    REDIS_URL: str = ""
    #: Seconds between two looks at the table for the ``"polling"`` change source.
    POLL_INTERVAL: float = 0.5
    #: Seconds between two keep-alive comments on an idle stream: below the idle timeouts of
    #: the proxies in front (nginx's ``proxy_read_timeout`` and AWS ALB's default are 60 s,
    #: Heroku's 55 s); each one costs the server a little, so not much lower.
    STREAM_KEEPALIVE: float = 50.0
    #: Seconds a stream lasts before the server ends it and the browser reconnects.
    STREAM_MAX_AGE: float = 6 * 3600.0
    #: Streams one person may hold open in one server process; past it a 429 (the widget
    #: polls instead).
    STREAM_MAX_PER_PERSON: int = 10
    #: Streams one server process holds open at most; past it a 429.
    STREAM_MAX_PER_PROCESS: int = 10_000
    #: Seconds the list, its conditional polls and the streams' database work wait for the
    #: task table (a lock, a slow statement) before answering a 503 with ``Retry-After``.
    DB_TIMEOUT: float = 3.0
    #: The longest task description accepted, in characters (``update_task``, ``save``,
    #: ``progress.report``); the list endpoint shows no more of older, longer ones.
    MAX_DESCRIPTION_LENGTH: int = 2_000
    #: The key of ``STORAGES`` whose storage keeps tasks' result files.
    RESULT_STORAGE: str = "default"


def _read() -> AsyncSettings:
    values: dict[str, Any] = {
        "PERSON_MODEL": getattr(settings, PREFIX + "PERSON_MODEL", settings.AUTH_USER_MODEL)
    }
    for field in fields(AsyncSettings):
        if field.name != "PERSON_MODEL" and hasattr(settings, PREFIX + field.name):
            values[field.name] = getattr(settings, PREFIX + field.name)
    if "DOMAIN_LIST" in values:
        values["DOMAIN_LIST"] = tuple(values["DOMAIN_LIST"])
    return AsyncSettings(**values)


def whole_number_error(name: str, value: object) -> str | None:
    """Why ``value`` cannot be ``OSIS_ASYNC_<name>`` (a ``WHOLE_RANGES`` setting), or None."""
    low, high, unit = WHOLE_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return (
            f"{PREFIX}{name} {reprlib.repr(value)} is not a whole number of {unit} from {low} to "
            f"{high:,}."
        )
    return None


def seconds_error(name: str, value: object, high: float) -> str | None:
    """Why ``value`` cannot be ``OSIS_ASYNC_<name>``, a number of seconds above 0 and at most
    ``high``, or None."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or not 0 < value <= high
    ):
        return (
            f"{PREFIX}{name} {reprlib.repr(value)} is not a number of seconds above 0 and at most "
            f"{high:g}."
        )
    return None


def whole_setting(name: str) -> int:
    """The value of ``OSIS_ASYNC_<name>`` (a ``WHOLE_RANGES`` setting); a ``ValueError`` saying
    what is allowed when it is out of its range (what ``manage.py check`` reports)."""
    value = getattr(get_settings(), name)
    error = whole_number_error(name, value)
    if error is not None:
        raise ValueError(error)
    return int(value)


@cache
def get_settings() -> AsyncSettings:
    return _read()


@receiver(setting_changed)
def _refresh(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX) or setting == "AUTH_USER_MODEL":
        get_settings.cache_clear()
