"""What the Celery and django.tasks integrations share, by module:

- ``spec``: the tracked task's description (``TaskSpec``), its job's language, and ``enqueue``
  (the row, then the job sent once that row is committed);
- ``tracker``: the lifecycle of one run (``Tracker``), which decides when it is built which
  thread writes;
- ``writer``: the process's tracking writer thread (``Flusher``, ``drain``);
- ``retry``: how a write meets a transient database error; ``notes``: the attempt notes.

Every name is importable from here as well.
"""

from osis_async.integrations.tracking.notes import (
    attempt_description,
    error_summary,
    retry_description,
    with_note,
)
from osis_async.integrations.tracking.retry import FINAL_WRITE_ATTEMPTS, FINAL_WRITE_BACKOFF
from osis_async.integrations.tracking.spec import (
    LANGUAGE_MAX_LENGTH,
    TaskSpec,
    check_person,
    enqueue,
    enqueue_language,
    job_language,
    supported_language,
)
from osis_async.integrations.tracking.tracker import FALLBACKS, START_DELAY, Tracker
from osis_async.integrations.tracking.writer import (
    CALL_TIMEOUT,
    DRAIN_TIMEOUT,
    FINAL_GATHER,
    IDLE_RELEASE,
    Flusher,
    close_connections,
    drain,
    flusher,
)

__all__ = [
    "CALL_TIMEOUT",
    "DRAIN_TIMEOUT",
    "FALLBACKS",
    "FINAL_GATHER",
    "FINAL_WRITE_ATTEMPTS",
    "FINAL_WRITE_BACKOFF",
    "IDLE_RELEASE",
    "LANGUAGE_MAX_LENGTH",
    "START_DELAY",
    "Flusher",
    "TaskSpec",
    "Tracker",
    "attempt_description",
    "check_person",
    "close_connections",
    "drain",
    "enqueue",
    "enqueue_language",
    "error_summary",
    "flusher",
    "job_language",
    "retry_description",
    "supported_language",
    "with_note",
]
