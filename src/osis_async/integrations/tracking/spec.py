"""A tracked task's description (``TaskSpec``), the language its job runs under, and
``enqueue``: the row created, then the job sent once that row is committed."""

from __future__ import annotations

import contextlib
import logging
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.apps import apps
from django.db import connections, router, transaction
from django.utils import translation

from osis_async.conf import get_settings
from osis_async.exceptions import InvalidTaskUpdate
from osis_async.models.enums.task import TaskState
from osis_async.models.task import AsyncTask
from osis_async.text import shorten
from osis_async.utils import update_task
from osis_async.validation import (
    NAME_MAX_LENGTH,
    clean_description,
    clean_name,
    clean_time_to_live,
    shown,
)

logger = logging.getLogger("osis_async.integrations")


@dataclass(frozen=True)
class TaskSpec:
    """What the user sees of a tracked task: its name, description and time to live (minutes).

    ``name`` and ``description`` may be lazy translations: they are turned into text when the
    task is enqueued, in the language active then (the request's), and cut with "…" to what
    fits (``NAME_MAX_LENGTH``, ``OSIS_ASYNC_MAX_DESCRIPTION_LENGTH``). Plain text is checked at
    once (``InvalidTaskUpdate``): empty or too long a name, too long a description, characters
    the database cannot store.
    """

    name: Any
    description: Any = ""
    time_to_live: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.time_to_live, bool) or not isinstance(self.time_to_live, int):
            raise TypeError(
                f"time_to_live must be a whole number of minutes, got {self.time_to_live!r}."
            )
        clean_time_to_live(self.time_to_live)
        if isinstance(self.name, str):
            clean_name(self.name)
        if isinstance(self.description, str):
            clean_description(self.description)

    def replace(
        self, *, name: Any = None, description: Any = None, time_to_live: int | None = None
    ) -> TaskSpec:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        if time_to_live is not None:
            changes["time_to_live"] = time_to_live
        return replace(self, **changes)

    def resolve(self) -> tuple[str, str]:
        """``(name, description)`` as text, each cut to what is allowed."""
        name = shorten(str(self.name), NAME_MAX_LENGTH)
        description = shorten(str(self.description or ""), get_settings().MAX_DESCRIPTION_LENGTH)
        return name, description


#: The longest language code taken from a message (BCP 47 tags are far shorter).
LANGUAGE_MAX_LENGTH = 35


def enqueue_language() -> str | None:
    """The language active now (the request's, under ``LocaleMiddleware``), which the job is to
    run under; None when translations are deactivated."""
    language = translation.get_language()
    return language if isinstance(language, str) and language else None


def supported_language(language: object) -> str | None:
    """``language`` as one of ``LANGUAGES`` (``fr-be`` becomes ``fr`` when only ``fr`` is
    there), or None: missing, malformed, or a language this site does not offer."""
    if not isinstance(language, str) or not 0 < len(language) <= LANGUAGE_MAX_LENGTH:
        return None
    try:
        return translation.get_supported_language_variant(language)
    except LookupError:
        return None


def job_language(language: object) -> contextlib.AbstractContextManager[Any]:
    """Run a tracked job under the language recorded when it was enqueued: its own translated
    strings (``gettext``, lazy ones, ``number_format``) and the tracking's notes are then in
    the language of the person who started it. Without a usable one (a message from before
    this was recorded, a language the site does not offer) nothing changes: the worker's
    default, ``LANGUAGE_CODE``."""
    code = supported_language(language)
    return translation.override(code) if code is not None else contextlib.nullcontext()


def check_person(person: Any) -> None:
    """``InvalidTaskUpdate`` unless ``person`` is a saved ``OSIS_ASYNC_PERSON_MODEL`` instance."""
    model = apps.get_model(get_settings().PERSON_MODEL)
    if not isinstance(person, model) or person.pk is None:
        raise InvalidTaskUpdate(
            f"person {shown(person)} is not a saved {model._meta.label}: enqueue_for needs the "
            "person the task is shown to."
        )


def enqueue(
    spec: TaskSpec,
    person: Any,
    send: Callable[[uuid_module.UUID, str], object],
    runner: str = "",
) -> uuid_module.UUID:
    """Create the task's row (``PENDING``, its ``runner`` recorded: ``osis_async.cancels``) and
    call ``send(uuid, description)`` to queue the job.

    Inside a transaction the job is sent only once it commits (``transaction.on_commit``): a
    worker never looks for a row that is not there yet, and a rollback leaves neither row nor
    job. Outside one, it is sent at once. If sending fails the row becomes ``ERROR`` with the
    reason; the error is raised to the caller when sent at once, logged when sent on commit.
    ``InvalidTaskUpdate`` (nothing written, nothing sent) for a ``person`` that is not a saved
    instance of the person model.
    """
    check_person(person)
    name, description = spec.resolve()
    task = AsyncTask.objects.create(
        name=name,
        description=description,
        person=person,
        time_to_live=spec.time_to_live,
        runner=runner,
    )
    alias = task._state.db or router.db_for_write(AsyncTask)

    def dispatch() -> None:
        try:
            send(task.uuid, description)
        except Exception as error:
            logger.error("Could not queue task %s (%s): %r", task.uuid, name, error)
            with contextlib.suppress(Exception):
                update_task(task.uuid, state=TaskState.ERROR, exception=error)
            raise

    if connections[alias].in_atomic_block:
        transaction.on_commit(dispatch, using=alias, robust=True)
    else:
        dispatch()
    return task.uuid
