"""Where result files are kept: the storage ``OSIS_ASYNC_RESULT_STORAGE`` names (a key of
``STORAGES``, ``"default"`` unless set), under a path no one can guess.

The file is only ever handed out by the ``osis_async:task-result`` view, to the task's owner. Its
name in the storage starts with 128 random bits, so even a storage served publicly (the default
storage under ``MEDIA_URL``) gives no guessable URL; a private storage is still the better choice.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.core.files.storage import Storage, storages
from django.utils.text import get_valid_filename

from osis_async.conf import get_settings

logger = logging.getLogger("osis_async.results")

#: The longest path of a result file in its storage (the column's length).
RESULT_PATH_MAX_LENGTH = 255
#: Where result files go in the storage.
RESULT_FOLDER = "osis_async/results"
#: The longest part of the given file name kept in the storage's path (the name the person gets
#: is kept whole, apart: ``AsyncTask.result_filename``).
_STORED_NAME_LENGTH = 80


def result_storage() -> Storage:
    """The storage named by ``OSIS_ASYNC_RESULT_STORAGE``."""
    return storages[get_settings().RESULT_STORAGE]


def result_path(instance: Any, filename: str) -> str:
    """``osis_async/results/<32 random hex digits>/<filename, made safe and short>``."""
    try:
        safe = get_valid_filename(filename)
    except Exception:  # nothing usable left of it (SuspiciousFileOperation)
        safe = "result"
    if len(safe) > _STORED_NAME_LENGTH:
        stem, dot, extension = safe.rpartition(".")
        keep = extension[:10] if dot and stem else ""
        safe = safe[: _STORED_NAME_LENGTH - len(keep) - 1] + ("." + keep if keep else "")
    return f"{RESULT_FOLDER}/{secrets.token_hex(16)}/{safe}"


def delete_result_file(name: str) -> None:
    """Delete a result file from the result storage; a failure is logged, never raised."""
    try:
        result_storage().delete(name)
    except Exception:
        logger.warning("Could not delete the result file %r.", name, exc_info=True)
