"""System checks for the ``OSIS_ASYNC_*`` settings. Ids are stable: ``osis_async.E00N``."""

from __future__ import annotations

import math
from importlib.util import find_spec
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.module_loading import import_string

from osis_async.conf import (
    PREFIX,
    SECONDS_MAXIMA,
    WHOLE_RANGES,
    get_settings,
    seconds_error,
    whole_number_error,
)
from osis_async.events.sources import SOURCES


@register(Tags.models)
def check_person_model(**kwargs: Any) -> list[CheckMessage]:
    label = get_settings().PERSON_MODEL
    hint = (
        "Set OSIS_ASYNC_PERSON_MODEL to 'app_label.ModelName' of an installed model, such as "
        "'base.Person', or remove it to use AUTH_USER_MODEL."
    )
    if not isinstance(label, str) or label.count(".") != 1:
        return [
            Error(
                f"OSIS_ASYNC_PERSON_MODEL {label!r} is not of the form 'app_label.ModelName'.",
                hint=hint,
                id="osis_async.E001",
            )
        ]
    try:
        apps.get_model(label, require_ready=False)
    except LookupError:
        return [
            Error(
                f"OSIS_ASYNC_PERSON_MODEL {label!r} names no installed model.",
                hint=hint,
                id="osis_async.E002",
            )
        ]
    return []


@register()
def check_person_getter(**kwargs: Any) -> list[CheckMessage]:
    path = get_settings().PERSON_GETTER
    if not path:
        return []
    try:
        getter = import_string(path)
    except ImportError as error:
        return [
            Error(
                f"OSIS_ASYNC_PERSON_GETTER {path!r} cannot be imported: {error}.",
                hint="Give the dotted path of a callable taking the request and returning the "
                "person, or remove the setting.",
                id="osis_async.E003",
            )
        ]
    if not callable(getter):
        return [
            Error(
                f"OSIS_ASYNC_PERSON_GETTER {path!r} is not callable.",
                hint="Point it at a function taking the request and returning the person.",
                id="osis_async.E003",
            )
        ]
    return []


@register()
def check_numbers(**kwargs: Any) -> list[CheckMessage]:
    conf = get_settings()
    errors: list[CheckMessage] = []
    for name in ("PAGE_SIZE", "MAX_PAGE_SIZE", "PENDING_TIMEOUT"):
        value = getattr(conf, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(
                Error(
                    f"OSIS_ASYNC_{name} {value!r} is not a positive integer.",
                    hint=f"Set OSIS_ASYNC_{name} to a whole number of at least 1.",
                    id="osis_async.E004",
                )
            )
        elif (message := whole_number_error(name, value)) is not None:
            errors.append(Error(message, hint=_range_hint(name), id="osis_async.E011"))
    if not errors and conf.PAGE_SIZE > conf.MAX_PAGE_SIZE:
        errors.append(
            Error(
                f"OSIS_ASYNC_PAGE_SIZE {conf.PAGE_SIZE} is larger than OSIS_ASYNC_MAX_PAGE_SIZE "
                f"{conf.MAX_PAGE_SIZE}.",
                hint="Lower OSIS_ASYNC_PAGE_SIZE or raise OSIS_ASYNC_MAX_PAGE_SIZE.",
                id="osis_async.E005",
            )
        )
    message = whole_number_error("MAX_DESCRIPTION_LENGTH", conf.MAX_DESCRIPTION_LENGTH)
    if message is not None:
        errors.append(
            Error(message, hint=_range_hint("MAX_DESCRIPTION_LENGTH"), id="osis_async.E013")
        )
    for name, high in SECONDS_MAXIMA.items():
        message = seconds_error(name, getattr(conf, name), high)
        if message is not None:
            errors.append(
                Error(
                    message,
                    hint=f"Set {PREFIX}{name} to a number of seconds above 0 and at most {high:g}.",
                    id="osis_async.E014",
                )
            )
    return errors


def _range_hint(name: str) -> str:
    low, high, unit = WHOLE_RANGES[name]
    return f"Set {PREFIX}{name} to a whole number of {unit} from {low} to {high:,}."


@register()
def check_remote(**kwargs: Any) -> list[CheckMessage]:
    conf = get_settings()
    errors: list[CheckMessage] = []
    if conf.BASE_URL:
        parts = urlsplit(conf.BASE_URL)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(
                Error(
                    f"OSIS_ASYNC_BASE_URL {conf.BASE_URL!r} is not an http(s) URL.",
                    hint="Give the remote API's base URL, such as 'https://api.example.org/"
                    "osis_async/', or leave it empty to serve tasks locally.",
                    id="osis_async.E006",
                )
            )
        elif not conf.BASE_URL.endswith("/"):
            errors.append(
                Error(
                    f"OSIS_ASYNC_BASE_URL {conf.BASE_URL!r} does not end with '/'.",
                    hint="Add the trailing slash so paths are joined below it.",
                    id="osis_async.E007",
                )
            )
    for origin in conf.DOMAIN_LIST:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if parts is None or parts.scheme not in ("http", "https") or parts.path or not parts.netloc:
            errors.append(
                Error(
                    f"OSIS_ASYNC_DOMAIN_LIST entry {origin!r} is not an origin.",
                    hint="Give origins as scheme://host[:port], such as "
                    "'https://intranet.example.org', with no path or trailing slash.",
                    id="osis_async.E008",
                )
            )
    if getattr(settings, "OSIS_ASYNC_BASE_URL", "") and not conf.API_AUTHORIZATION:
        errors.append(
            Error(
                "OSIS_ASYNC_BASE_URL is set but OSIS_ASYNC_API_AUTHORIZATION is empty.",
                hint="Set OSIS_ASYNC_API_AUTHORIZATION to the shared secret the remote API "
                "expects in its Authorization header.",
                id="osis_async.E009",
            )
        )
    return errors


@register()
def check_retention(**kwargs: Any) -> list[CheckMessage]:
    value = get_settings().RETENTION
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [
            Error(
                f"OSIS_ASYNC_RETENTION {value!r} is not a positive whole number of days.",
                hint="Set OSIS_ASYNC_RETENTION to the days a finished task is kept before "
                "purge_async_tasks deletes it (at least 1; default 30).",
                id="osis_async.E010",
            )
        ]
    message = whole_number_error("RETENTION", value)
    if message is not None:
        return [Error(message, hint=_range_hint("RETENTION"), id="osis_async.E012")]
    return []


@register()
def check_stream(**kwargs: Any) -> list[CheckMessage]:
    conf = get_settings()
    errors: list[CheckMessage] = []
    if conf.CHANGE_SOURCE not in SOURCES:
        errors.append(
            Error(
                f"OSIS_ASYNC_CHANGE_SOURCE {conf.CHANGE_SOURCE!r} is not one of "
                f"{', '.join(SOURCES)}.",
                hint="Leave it at 'auto' unless you need another source.",
                id="osis_async.E020",
            )
        )
    if conf.CHANGE_SOURCE == "redis" and not conf.REDIS_URL:
        errors.append(
            Error(
                "OSIS_ASYNC_CHANGE_SOURCE is 'redis' but OSIS_ASYNC_REDIS_URL is empty.",
                hint="Set OSIS_ASYNC_REDIS_URL, such as 'redis://127.0.0.1:6379/0'.",
                id="osis_async.E021",
            )
        )
    if (conf.CHANGE_SOURCE == "redis" or conf.REDIS_URL) and find_spec("redis") is None:
        errors.append(
            Error(
                "The 'redis' change source needs the redis package, which is not installed.",
                hint="pip install 'osis-async[redis]'.",
                id="osis_async.E022",
            )
        )
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if conf.CHANGE_SOURCE == "postgres" and vendor != "postgresql":
        errors.append(
            Error(
                f"OSIS_ASYNC_CHANGE_SOURCE is 'postgres' but the database is {vendor!r}.",
                hint="Use 'auto', 'redis' or 'polling' on this database.",
                id="osis_async.E023",
            )
        )
    for name in ("POLL_INTERVAL", "STREAM_KEEPALIVE", "STREAM_MAX_AGE"):
        value = getattr(conf, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
            or value <= 0
        ):
            errors.append(
                Error(
                    f"OSIS_ASYNC_{name} {value!r} is not a positive number of seconds.",
                    hint=f"Set OSIS_ASYNC_{name} to a finite number of seconds above 0.",
                    id="osis_async.E024",
                )
            )
    for name, high in (("STREAM_MAX_PER_PERSON", 1000), ("STREAM_MAX_PER_PROCESS", 1_000_000)):
        value = getattr(conf, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            errors.append(
                Error(
                    f"OSIS_ASYNC_{name} {value!r} is not a whole number from 1 to {high:,}.",
                    hint=f"Set OSIS_ASYNC_{name} to the streams allowed open at once (from 1 "
                    f"to {high:,}).",
                    id="osis_async.E025",
                )
            )
    return errors


#: The longest wait ``OSIS_ASYNC_DB_TIMEOUT`` allows, in seconds.
MAX_DB_TIMEOUT = 600


@register()
def check_db_timeout(**kwargs: Any) -> list[CheckMessage]:
    value = get_settings().DB_TIMEOUT
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.001 <= value <= MAX_DB_TIMEOUT
    ):
        return [
            Error(
                f"OSIS_ASYNC_DB_TIMEOUT {value!r} is not a number of seconds from 0.001 to "
                f"{MAX_DB_TIMEOUT}.",
                hint="Set OSIS_ASYNC_DB_TIMEOUT to how long the list and the streams may wait "
                "for the task table (default 3).",
                id="osis_async.E026",
            )
        ]
    return []


@register()
def check_result_storage(**kwargs: Any) -> list[CheckMessage]:
    """``OSIS_ASYNC_RESULT_STORAGE`` names a storage of ``STORAGES``."""
    name = get_settings().RESULT_STORAGE
    known = sorted(getattr(settings, "STORAGES", {}) or {"default": {}})
    if not isinstance(name, str) or name not in known:
        return [
            Error(
                f"OSIS_ASYNC_RESULT_STORAGE {name!r} is not a key of STORAGES; the keys are "
                f"{', '.join(repr(key) for key in known)}.",
                hint="Name the storage that keeps tasks' result files (default 'default'), "
                "preferably one the web server does not serve publicly.",
                id="osis_async.E027",
            )
        ]
    return []
