"""Saves, deletions and logouts, told to the other processes (see ``publish``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save

from osis_async.events import publish


def _changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    publish.person_changed(instance.person_id)


def _logged_out(sender: Any, request: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        publish.session_ended(session_key)


def connect() -> None:
    from osis_async.models.task import AsyncTask

    user_logged_out.connect(_logged_out, dispatch_uid="osis_async_logged_out")
    post_save.connect(_changed, sender=AsyncTask, dispatch_uid="osis_async_task_saved")
    post_delete.connect(_changed, sender=AsyncTask, dispatch_uid="osis_async_task_deleted")
