"""The rules a task's values follow, checked in Python before the database sees them, the same
on SQLite and PostgreSQL: ``AsyncTask.save()`` (``objects.create``, ``bulk_create``) and
``update_task`` both use them. A value that breaks one raises ``InvalidTaskUpdate`` naming the
field, the value and what is allowed; nothing is written.
"""

from __future__ import annotations

import datetime
import reprlib
import uuid as uuid_module
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise

from osis_async.conf import get_settings
from osis_async.exceptions import InvalidTaskUpdate
from osis_async.links import URL_MAX_LENGTH, is_safe_url
from osis_async.models.enums.task import TaskState
from osis_async.text import check_storable

if TYPE_CHECKING:
    from osis_async.models.task import AsyncTask

#: The name column's length.
NAME_MAX_LENGTH = 100
PROGRESSION_MIN = 0
PROGRESSION_MAX = 100
#: The largest ``time_to_live`` (minutes): PostgreSQL's ``integer``.
TIME_TO_LIVE_MAX = 2_147_483_647

__all__ = [
    "DATETIME_MAX",
    "DATETIME_MIN",
    "NAME_MAX_LENGTH",
    "PROGRESSION_MAX",
    "PROGRESSION_MIN",
    "TIME_TO_LIVE_MAX",
    "check_order",
    "check_timestamps",
    "clean_bounded_text",
    "clean_datetime",
    "clean_description",
    "clean_name",
    "clean_progression",
    "clean_state",
    "clean_time_to_live",
    "clean_traceback",
    "clean_uuid",
    "order_error",
    "shown",
    "validate_task",
]

#: The moments accepted: far enough from Python's limits that no time zone conversion
#: overflows, and ``DATETIME_MAX`` plus the longest time to live still fits in a Python datetime,
#: which the TTL sweep computes on SQLite.
DATETIME_MIN = datetime.datetime(1900, 1, 1, tzinfo=datetime.timezone.utc)
DATETIME_MAX = datetime.datetime(5000, 1, 1, tzinfo=datetime.timezone.utc)

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 120
_repr.maxlong = 40


def shown(value: object) -> str:
    """``repr(value)``, shortened for a message when it is long."""
    return _repr.repr(value)


def clean_uuid(value: object) -> uuid_module.UUID:
    if isinstance(value, uuid_module.UUID):
        return value
    try:
        return uuid_module.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidTaskUpdate(
            f"uuid {shown(value)} is not a UUID; give a uuid.UUID or its string form."
        ) from None


def _clean_text(field: str, value: object) -> str:
    if isinstance(value, Promise):  # a lazy translation
        value = str(value)
    if not isinstance(value, str):
        raise InvalidTaskUpdate(
            f"{field} must be a str, got {type(value).__name__} {shown(value)}."
        )
    check_storable(field, value)
    return value


def clean_bounded_text(field: str, value: object, limit: int) -> str:
    """``value`` as text the database can store, at most ``limit`` characters."""
    text = _clean_text(field, value)
    if len(text) > limit:
        raise InvalidTaskUpdate(
            f"{field} {shown(text)} is {len(text):,} characters long; at most {limit:,} are "
            "allowed."
        )
    return text


def clean_name(value: object) -> str:
    text = _clean_text("name", value)
    if not text.strip():
        raise InvalidTaskUpdate(
            f"name {shown(text)} is empty; give the text the user sees the task by, "
            f"1 to {NAME_MAX_LENGTH} characters."
        )
    if len(text) > NAME_MAX_LENGTH:
        raise InvalidTaskUpdate(
            f"name {shown(text)} is {len(text):,} characters long; at most {NAME_MAX_LENGTH} fit."
        )
    return text


def clean_description(value: object) -> str:
    text = _clean_text("description", value)
    limit = get_settings().MAX_DESCRIPTION_LENGTH
    if len(text) > limit:
        raise InvalidTaskUpdate(
            f"description {shown(text)} is {len(text):,} characters long; at most {limit:,} "
            "are allowed (OSIS_ASYNC_MAX_DESCRIPTION_LENGTH)."
        )
    return text


def clean_traceback(value: object) -> str:
    return _clean_text("traceback", value)


def clean_state(value: object) -> TaskState:
    if isinstance(value, TaskState):
        return value
    if isinstance(value, str) and value in TaskState.names:
        return TaskState[value]
    allowed = ", ".join(TaskState.names)
    raise InvalidTaskUpdate(
        f"state {shown(value)} is not one of {allowed} (or a TaskState member)."
    )


def _clean_whole(field: str, value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTaskUpdate(
            f"{field} {shown(value)} is not an int; give {what} from {low} to {high:,}."
        )
    if not low <= value <= high:
        raise InvalidTaskUpdate(
            f"{field} {shown(value)} is out of range; give {what} from {low} to {high:,}."
        )
    return int(value)


def clean_progression(value: object) -> int:
    return _clean_whole(
        "progression", value, PROGRESSION_MIN, PROGRESSION_MAX, "a whole percentage"
    )


def clean_time_to_live(value: object) -> int:
    return _clean_whole("time_to_live", value, 0, TIME_TO_LIVE_MAX, "a whole number of minutes")


def clean_datetime(field: str, value: object) -> datetime.datetime:
    """An aware datetime while ``USE_TZ`` is on (naive refused), returned in UTC. Without it, a
    naive one, in ``TIME_ZONE``, that exists there, or an aware one, converted to
    ``TIME_ZONE``. Either way a moment from ``DATETIME_MIN`` to ``DATETIME_MAX``."""
    if not isinstance(value, datetime.datetime):
        raise InvalidTaskUpdate(
            f"{field} {shown(value)} is not a datetime; give a datetime.datetime such as "
            "django.utils.timezone.now()."
        )
    aware = timezone.is_aware(value)
    if settings.USE_TZ and not aware:
        raise InvalidTaskUpdate(
            f"{field} {shown(value)} is naive while USE_TZ is on; give an aware datetime such as "
            "django.utils.timezone.now()."
        )
    zone = timezone.get_default_timezone()
    try:
        moment = (value if aware else value.replace(tzinfo=zone)).astimezone(datetime.timezone.utc)
        in_range = DATETIME_MIN <= moment <= DATETIME_MAX
    except (OverflowError, ValueError):
        in_range = False
    if not in_range:
        raise InvalidTaskUpdate(
            f"{field} {shown(value)} is out of range; give a moment from "
            f"{DATETIME_MIN:%Y-%m-%d} to {DATETIME_MAX:%Y-%m-%d} (UTC)."
        )
    if aware:
        # In UTC: PostgreSQL cannot read an offset with a fraction of a second.
        return moment if settings.USE_TZ else timezone.make_naive(moment, zone)
    if moment.astimezone(zone).replace(tzinfo=None) != value:
        # PostgreSQL would store a time a daylight-saving change skips as another one.
        raise InvalidTaskUpdate(
            f"{field} {shown(value)} does not exist in {zone} (a daylight-saving change skips "
            "it); give a local time that does."
        )
    return value


def check_timestamps(
    state: TaskState,
    started_at: datetime.datetime | None,
    completed_at: datetime.datetime | None,
) -> None:
    """The timestamps a task in ``state`` may have: a ``PROCESSING`` task has ``started_at``; a
    ``DONE``, ``ERROR`` or ``CANCELLED`` one has ``completed_at``, which no other state has;
    ``completed_at`` is not before ``started_at``. (A ``PENDING`` task may keep a
    ``started_at``: a Celery task waiting for its retry keeps the start of the attempt that
    failed.)"""
    finished = state in TaskState.finished()
    if finished and completed_at is None:
        raise InvalidTaskUpdate(
            f"completed_at is empty on a {state.name} task; a finished task needs the moment it "
            "finished, such as django.utils.timezone.now()."
        )
    if not finished and completed_at is not None:
        raise InvalidTaskUpdate(
            f"completed_at {shown(completed_at)} is given to a {state.name} task; only a DONE, "
            "ERROR or CANCELLED task has one."
        )
    if state == TaskState.PROCESSING and started_at is None:
        raise InvalidTaskUpdate(
            "started_at is empty on a PROCESSING task; give the moment it started (the TTL "
            "sweep counts its time to live from it), such as django.utils.timezone.now()."
        )
    check_order(started_at, completed_at)


def check_order(
    started_at: datetime.datetime | None, completed_at: datetime.datetime | None
) -> None:
    if started_at is not None and completed_at is not None and completed_at < started_at:
        raise order_error(started_at, completed_at)


def order_error(
    started_at: datetime.datetime, completed_at: datetime.datetime
) -> InvalidTaskUpdate:
    return InvalidTaskUpdate(
        f"completed_at {shown(completed_at)} is before started_at {shown(started_at)}; a task "
        "cannot finish before it starts."
    )


#: The longest ``error_message`` and ``result_label`` accepted, in characters.
ERROR_MESSAGE_MAX_LENGTH = 1_000
LABEL_MAX_LENGTH = 200
FILENAME_MAX_LENGTH = 255


def clean_result_url(value: object) -> str:
    """An ``http``/``https`` URL with a host, or a site-relative path (``/…``, not ``//…``)."""
    text = clean_bounded_text("result_url", value, URL_MAX_LENGTH)
    if not is_safe_url(text):
        raise InvalidTaskUpdate(
            f"result_url {shown(text)} is not allowed; give an http or https URL with a host, or "
            "a path on this site starting with a single '/', without spaces or backslashes "
            "(javascript:, data: and //host are refused)."
        )
    return text


def clean_result_label(value: object) -> str:
    return clean_bounded_text("result_label", value, LABEL_MAX_LENGTH)


def clean_error_message(value: object) -> str:
    return clean_bounded_text("error_message", value, ERROR_MESSAGE_MAX_LENGTH)


def clean_result_filename(value: object) -> str:
    return clean_bounded_text("result_filename", value, FILENAME_MAX_LENGTH)


def _or_none(clean: Any) -> Any:
    """``clean`` for a nullable column: None stays None."""
    return lambda value: None if value is None else clean(value)


_CLEANERS: dict[str, Any] = {
    "uuid": clean_uuid,
    "name": clean_name,
    "description": clean_description,
    "state": clean_state,
    "progression": clean_progression,
    "time_to_live": clean_time_to_live,
    "traceback": clean_traceback,
    "result_url": _or_none(clean_result_url),
    "result_label": _or_none(clean_result_label),
    "result_filename": _or_none(clean_result_filename),
    "error_message": _or_none(clean_error_message),
}
_TIMESTAMPS = ("created_at", "started_at", "completed_at")


def validate_task(task: AsyncTask, fields: Iterable[str] | None = None) -> None:
    """Check the values of ``task`` about to be saved (those of ``fields``, or all), and store
    the cleaned ones back (a lazy text as ``str``, an aware datetime in local time without
    ``USE_TZ``). Deferred fields, not loaded, are not looked at."""
    loaded = task.__dict__
    wanted = None if fields is None else set(fields)

    def checked(name: str) -> bool:
        return name in loaded and (wanted is None or name in wanted)

    for name, clean in _CLEANERS.items():
        if checked(name):
            loaded[name] = clean(loaded[name])
    for name in _TIMESTAMPS:
        if name == "created_at" and task._state.adding:
            continue  # set by the database layer on insert, whatever is given
        if checked(name) and loaded[name] is not None:
            loaded[name] = clean_datetime(name, loaded[name])
    together = ("state", "started_at", "completed_at")
    if all(name in loaded for name in together) and any(checked(name) for name in together):
        check_timestamps(loaded["state"], loaded["started_at"], loaded["completed_at"])
