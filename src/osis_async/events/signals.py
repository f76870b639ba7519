"""Saves and deletions through the ORM, told to the other processes (see ``publish``)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from osis_async.events import publish


def _changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    publish.person_changed(instance.person_id)


def connect() -> None:
    from osis_async.models.task import AsyncTask

    post_save.connect(_changed, sender=AsyncTask, dispatch_uid="osis_async_task_saved")
    post_delete.connect(_changed, sender=AsyncTask, dispatch_uid="osis_async_task_deleted")
