"""A task's outcome for its person: a result to open (a URL, or a file kept in the result
storage) and, when it failed, a short reason (``error_message``).

``set_result`` attaches a result to a task; ``update_task(result_url=..., error_message=...)``
sets either with the other fields. A file is served by the ``osis_async:task-result`` view to the
task's owner only, and deleted with its task.
"""

from __future__ import annotations

import io
import logging
import uuid as uuid_module
from functools import partial
from typing import IO, Any, cast

from django.core.files import File
from django.db import router, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext

from osis_async.changes import Change, announce
from osis_async.exceptions import InvalidTaskUpdate, TaskFailed, TaskNotFound
from osis_async.models.task import AsyncTask, touched
from osis_async.result_storage import delete_result_file, result_path, result_storage
from osis_async.text import escape_unstorable, shorten
from osis_async.validation import (
    ERROR_MESSAGE_MAX_LENGTH,
    FILENAME_MAX_LENGTH,
    LABEL_MAX_LENGTH,
    clean_bounded_text,
    clean_error_message,
    clean_result_label,
    clean_result_url,
    clean_uuid,
    shown,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ERROR_MESSAGE_MAX_LENGTH",
    "LABEL_MAX_LENGTH",
    "clean_error_message",
    "clean_result_label",
    "clean_result_url",
    "check_result",
    "delete_result_file",
    "failure_message",
    "set_result",
]


def failure_message(error: BaseException) -> str:
    """What the person reads of a job that raised ``error``, in the active language: a
    ``TaskFailed``'s message, else a generic one (never the exception's own text)."""
    if isinstance(error, TaskFailed):
        return shorten(escape_unstorable(error.message), ERROR_MESSAGE_MAX_LENGTH)
    return gettext("The task failed because of an unexpected error.")


def _as_file(file: object, filename: str) -> File[Any]:
    if isinstance(file, bytes | bytearray | memoryview):
        return File(io.BytesIO(bytes(file)), name=filename)
    if isinstance(file, str):
        return File(io.BytesIO(file.encode()), name=filename)
    if isinstance(file, File):
        return file
    if hasattr(file, "read"):
        return File(cast(IO[Any], file), name=filename)
    raise InvalidTaskUpdate(
        f"file must be bytes, a str or a file object (django.core.files.File, an open file), "
        f"got {type(file).__name__} {shown(file)}."
    )


def _filename(filename: object, file: object) -> str:
    if filename is None:
        filename = getattr(file, "name", None)
        if isinstance(filename, str):
            filename = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if filename is None or filename == "":
        raise InvalidTaskUpdate(
            "filename is missing: give the name the person downloads the file as, such as "
            "filename='report.pdf'."
        )
    text = clean_bounded_text("filename", filename, FILENAME_MAX_LENGTH)
    if not text.strip() or any(ord(c) < 0x20 or c in "/\\" for c in text):
        raise InvalidTaskUpdate(
            f"filename {shown(text)} is not a file name; give a name without control "
            "characters or slashes, such as 'report.pdf'."
        )
    return text


def check_result(
    *, url: object = None, file: object = None, filename: object = None, label: object = None
) -> None:
    """``InvalidTaskUpdate`` unless these are what ``set_result`` takes."""
    if (url is None) == (file is None):
        raise InvalidTaskUpdate(
            "give either url (a link to open) or file (saved and served to the task's person), "
            f"not {'both' if url is not None else 'neither'}."
        )
    if url is not None:
        clean_result_url(url)
    else:
        _as_file(file, _filename(filename, file))
    if label is not None:
        clean_result_label(label)


def set_result(
    uuid: uuid_module.UUID | str,
    *,
    url: str | None = None,
    file: File[Any] | IO[Any] | bytes | str | None = None,
    filename: str | None = None,
    label: str | None = None,
) -> None:
    """Attach a result to task ``uuid``: a ``url`` to open, or a ``file`` (bytes, text or a file
    object) saved in the result storage as ``filename`` (the name the person downloads it as,
    any characters). ``label`` is the button's text (the widget's "Open" or "Download" when
    empty). A previous result is replaced, its file deleted.

    Works in any state, so a job may attach its result before or after it finishes. Raises
    ``InvalidTaskUpdate`` for a bad value and ``TaskNotFound`` for an unknown uuid, in both cases
    leaving nothing behind.
    """
    task_uuid = clean_uuid(uuid)
    check_result(url=url, file=file, filename=filename, label=label)
    values: dict[str, Any] = {
        "result_label": None if label is None else clean_result_label(label),
    }
    previous = (
        AsyncTask.objects.filter(uuid=task_uuid).values_list("result_file", flat=True).first()
    )
    if previous is None and not AsyncTask.objects.filter(uuid=task_uuid).exists():
        raise TaskNotFound(f"No task has uuid {task_uuid}.")
    stored = None
    if url is not None:
        values.update(result_url=clean_result_url(url), result_file=None, result_filename=None)
    else:
        name = _filename(filename, file)
        content = _as_file(file, name)
        storage = result_storage()
        stored = storage.save(result_path(None, name), content)
        values.update(result_url=None, result_file=stored, result_filename=name)
    values["updated_at"] = touched(timezone.now())
    if not AsyncTask.objects.filter(uuid=task_uuid).update(**values):
        if stored is not None:
            result_storage().delete(stored)
        raise TaskNotFound(f"No task has uuid {task_uuid}.")
    announce(Change.of_task(task_uuid))
    if previous:
        # Once the change commits: rolled back, the row still names the previous file.
        transaction.on_commit(
            partial(delete_result_file, previous),
            using=router.db_for_write(AsyncTask),
            robust=True,
        )


@receiver(post_delete, sender=AsyncTask, dispatch_uid="osis_async_delete_result_file")
def _delete_file_with_task(sender: Any, instance: AsyncTask, **kwargs: Any) -> None:
    """A task's file goes with it: ``delete()``, the admin, the retention purge."""
    name = instance.__dict__.get("result_file")
    if name:
        # Once the deletion commits: a rolled back one keeps its file.
        transaction.on_commit(
            partial(delete_result_file, str(name)), using=kwargs.get("using"), robust=True
        )
