"""How the events package hears of changes: it subscribes to ``osis_async.changes.changed``,
and turns the model's saves and deletions and the users' logouts into ``Change``s."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save

from osis_async.changes import Change, announce, changed
from osis_async.events import publish
from osis_async.models.task import AsyncTask


def _saved_or_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.person_id is not None:
        announce(Change.of_person(instance.person_id))


def _logged_out(sender: Any, request: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        announce(Change.of_logout(session_key))


def connect() -> None:
    """Called by ``OsisAsyncConfig.ready()``."""
    changed.connect(publish.on_change, sender=Change, dispatch_uid="osis_async_publish")
    user_logged_out.connect(_logged_out, dispatch_uid="osis_async_logged_out")
    post_save.connect(_saved_or_deleted, sender=AsyncTask, dispatch_uid="osis_async_task_saved")
    post_delete.connect(_saved_or_deleted, sender=AsyncTask, dispatch_uid="osis_async_task_deleted")
