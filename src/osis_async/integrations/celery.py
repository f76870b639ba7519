"""Celery integration: a Celery task whose runs are tracked by an ``AsyncTask`` row.

::

    from celery import shared_task
    from django.utils.translation import gettext_lazy as _
    from osis_async.integrations.celery import progress, tracked_task

    @tracked_task(name=_("Students export"), description=_("All students."), time_to_live=10)
    @shared_task(bind=True, autoretry_for=(ConnectionError,), max_retries=3)
    def export_students(self, year):
        rows = fetch(year)
        for done, row in enumerate(rows, 1):
            write(row)
            progress(self).report(done, len(rows))

    task_uuid = export_students.enqueue_for(request.user, 2024)   # the AsyncTask's uuid, at once

How it works. ``enqueue_for`` creates the row (``PENDING``) and, once the current transaction
commits, sends the job with ``apply_async``: the Celery task id is the row's uuid, and a
message header (``osis_async``) marks the run as tracked and carries the language active at
``enqueue_for`` (the request's), which the worker runs the job under. Celery signals, connected by
``OsisAsyncConfig.ready()`` whenever Celery is installed, then write the lifecycle from the
worker: ``task_prerun`` → ``PROCESSING``; ``task_success`` → ``DONE``; ``task_failure`` (the
last attempt, or a worker child lost) → ``ERROR`` with the traceback; ``task_retry`` → back to
``PENDING`` with a note in the description until the next attempt starts; ``task_revoked`` and
``task_unknown`` → ``ERROR``. Cancel (``osis_async.cancels``): ``task_received`` revokes a job
whose task was cancelled before it started; a ``TaskCancelled`` raised by the job's
``progress(self).report`` ends it ``CANCELLED``. Messages without the header (``delay()``,
``apply_async()``, beat) are left alone. Signals rather than a base class, so a project keeps
its own ``base=`` tasks.

The package creates no Celery app: ``shared_task`` binds to the project's app.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid as uuid_module
from collections.abc import Callable
from typing import Any, Literal, cast

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import shared_task, signals
from celery.app.task import Task as CeleryTask
from celery.local import Proxy
from celery.utils.dispatch import Signal
from django.db import connections, router
from django.utils import timezone
from django.utils.functional import Promise

from osis_async import retention
from osis_async.cancels import (
    CELERY,
    CELERY_TERMINATE,
    cancelled_before_start,
    is_cancel_requested,
    register_revoker,
)
from osis_async.exceptions import TaskCancelled
from osis_async.integrations.progress import (
    TaskProgress,
    activate,
    current_progress,
    deactivate,
)
from osis_async.integrations.schedule import TTL_SWEEP_TASK
from osis_async.integrations.tracking import (
    TaskSpec,
    Tracker,
    drain,
    enqueue,
    enqueue_language,
    job_language,
)
from osis_async.models.task import AsyncTask

__all__ = [
    "HEADER",
    "TTL_SWEEP_TASK",
    "TrackedTask",
    "check_async_task_ttl",
    "connect_signals",
    "disconnect_signals",
    "progress",
    "tracked_task",
]

logger = logging.getLogger("osis_async.integrations")

#: The message header that marks a run as tracked:
#: ``{"uuid": ..., "description": ..., "language": ..., "sent_at": ...}`` (``language``: the one
#: active at ``enqueue_for``, absent when translations were deactivated; ``sent_at``: when it
#: was sent, seconds since the epoch; retries keep the header).
HEADER = "osis_async"

StrOrPromise = str | Promise

#: The values of ``tracked_task(cancel=...)``.
CancelMode = Literal["report", "terminate"]
REPORT: CancelMode = "report"
TERMINATE: CancelMode = "terminate"
CANCEL_MODES: tuple[CancelMode, ...] = (REPORT, TERMINATE)

_TRACKER_ATTR = "osis_async_tracker"
_TOKEN_ATTR = "osis_async_progress_token"
_LANGUAGE_ATTR = "osis_async_language"


class TrackedTask:
    """A Celery task, tracked: everything Celery's task has, plus ``enqueue_for``.

    Made by ``tracked_task``; attribute access goes to the Celery task itself (``delay``,
    ``apply_async``, ``name``, calling it...), so those behave exactly as Celery's and create
    no row. ``enqueue_for`` and ``apply_async_for`` are the tracked ways in.
    """

    def __init__(self, task: CeleryTask, spec: TaskSpec, cancel: CancelMode = REPORT) -> None:
        object.__setattr__(self, "_task", task)
        object.__setattr__(self, "tracking", spec)
        object.__setattr__(self, "cancel", cancel)

    _task: CeleryTask
    tracking: TaskSpec
    #: How a cancel stops a running job: ``"report"`` (its next report) or ``"terminate"``.
    cancel: CancelMode

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._task(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<tracked {self._task!r}>"

    def enqueue_for(self, person: object, /, *args: Any, **kwargs: Any) -> uuid_module.UUID:
        """Queue the job for ``person``, like ``delay(*args, **kwargs)``; return the row's uuid.

        The row exists (``PENDING``) when this returns; the message leaves when the current
        transaction commits (at once outside a transaction).
        """
        return self.apply_async_for(person, args, kwargs)

    def apply_async_for(
        self,
        person: object,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> uuid_module.UUID:
        """``enqueue_for`` with Celery's ``apply_async`` options (``countdown``, ``queue``...)."""
        if "task_id" in options:
            raise TypeError("task_id is the AsyncTask's uuid; it cannot be chosen.")
        task = self._task
        headers = dict(options.pop("headers", None) or {})
        language = enqueue_language()

        def send(task_uuid: uuid_module.UUID, description: str) -> None:
            header: dict[str, Any] = {
                "uuid": str(task_uuid),
                "description": description,
                "sent_at": time.time(),
            }
            if language is not None:
                header["language"] = language
            task.apply_async(
                args=tuple(args or ()),
                kwargs=dict(kwargs or {}),
                task_id=str(task_uuid),
                headers={**headers, HEADER: header},
                **options,
            )

        runner = CELERY_TERMINATE if self.cancel == TERMINATE else CELERY
        return enqueue(self.tracking, person, send, runner=runner)

    def with_tracking(
        self,
        *,
        name: StrOrPromise | None = None,
        description: StrOrPromise | None = None,
        time_to_live: int | None = None,
    ) -> TrackedTask:
        """The same task shown with another name, description or time to live::

        export.with_tracking(description=f"Year {year}").enqueue_for(person, year)
        """
        return TrackedTask(
            self._task,
            self.tracking.replace(name=name, description=description, time_to_live=time_to_live),
            self.cancel,
        )


def tracked_task(
    *,
    name: StrOrPromise,
    description: StrOrPromise = "",
    time_to_live: int = 5,
    cancel: CancelMode = REPORT,
) -> Callable[[object], TrackedTask]:
    """Mark a Celery task as tracked. Put it above ``@shared_task(bind=True)``.

    ``name`` and ``description`` are what the user sees (lazy translations are welcome);
    ``time_to_live`` is the minutes each attempt has once started before the TTL sweep gives up.
    ``cancel``: how a cancel stops a running job: ``"report"`` (the default), its next
    ``progress(self).report`` raises ``TaskCancelled``; ``"terminate"``, the worker also ends
    the process running it (``revoke(terminate=True)``: whatever the job was doing is cut off,
    its ``finally`` blocks do not run, and a prefork pool starts a new process).
    """
    if cancel not in CANCEL_MODES:
        raise ValueError(
            f"cancel must be one of {', '.join(map(repr, CANCEL_MODES))}, got {cancel!r}."
        )
    spec = TaskSpec(name=name, description=description, time_to_live=time_to_live)

    def decorate(task: object) -> TrackedTask:
        # type(), not isinstance() nor any attribute: a shared_task's proxy would resolve (and
        # finalize the current app) at import time.
        if issubclass(type(task), TrackedTask):
            raise TypeError("This task is tracked already.")
        if not issubclass(type(task), Proxy | CeleryTask):
            raise TypeError(
                "tracked_task goes above @shared_task (or @app.task): it takes a Celery task, "
                f"got {task!r}."
            )
        return TrackedTask(cast(CeleryTask, task), spec, cancel)

    return decorate


def progress(task: object = None) -> TaskProgress:
    """The progress reporter of the tracked run of ``task`` (the bound ``self``).

    Without ``task``, the one of the tracked job running in this context. Outside a tracked
    run, a reporter that does nothing.
    """
    if task is not None:
        tracker = _tracker_of(getattr(task, "request", None))
        if tracker is not None:
            return tracker.progress
    return current_progress()


# --- the TTL sweep --------------------------------------------------------------------------


def sweep_expired() -> int:
    """Mark the tasks that outlived their time as ``ERROR``; run it from Celery beat::

    CELERY_BEAT_SCHEDULE = {
        "osis-async-ttl-sweep": {"task": "osis_async.check_async_task_ttl", "schedule": 60.0},
    }
    """
    count = AsyncTask.objects.expire(timezone.now())
    if count:
        logger.info("%d task(s) marked as expired.", count)
    return count


# Celery's decorators are untyped: the tasks are made by calling them.
check_async_task_ttl: CeleryTask = shared_task(name=TTL_SWEEP_TASK, ignore_result=True)(
    sweep_expired
)


# --- the signal handlers ----------------------------------------------------------------------


def _meta(request: object) -> dict[str, Any] | None:
    if request is None:
        return None
    meta = getattr(request, HEADER, None)
    if meta is None:
        for attribute in ("headers", "request_dict"):  # a task's request, a worker's
            headers = getattr(request, attribute, None)
            if isinstance(headers, dict) and HEADER in headers:
                meta = headers.get(HEADER)
                break
    if isinstance(meta, dict) and meta.get("uuid"):
        return meta
    return None


def _tracker_of(request: object) -> Tracker | None:
    tracker = getattr(request, _TRACKER_ATTR, None) if request is not None else None
    return tracker if isinstance(tracker, Tracker) else None


def _new_tracker(meta: dict[str, Any], *, in_worker: bool = False) -> Tracker | None:
    """The run's tracker; ``in_worker``: a worker runs it, and does not wait for its final
    write (``tracking.drain`` finishes them when the worker process ends)."""
    try:
        return Tracker(
            meta["uuid"], base_description=meta.get("description"), wait_final=not in_worker
        )
    except (TypeError, ValueError):
        logger.warning("Ignoring a malformed %s header: %r", HEADER, meta)
        return None


def _attempts(task: object) -> int | None:
    max_retries = getattr(task, "max_retries", None)
    return max_retries + 1 if isinstance(max_retries, int) else None


#: When this worker (its main process) was ready, seconds since the epoch; None before.
_ready_at: float | None = None
#: Seconds a message must have been sent after the worker was ready for its check to be left
#: to the revoke (the clocks of the machines that send and that run may differ by this much).
REVOKE_MARGIN = 10.0


def _on_worker_ready(**kwargs: object) -> None:
    global _ready_at
    _ready_at = time.time()


def _revoke_reached_this_worker(meta: dict[str, Any], request: object) -> bool:
    """Whether the revoke sent with a cancel of this job reached this worker, and is still in
    its revoked set: the worker was running when the job was first sent (so when it was
    cancelled), this is the job's first attempt (a retry's message is sent by the worker that
    ran the attempt before), and the revoke has not aged out of the set (Celery keeps one
    ``REVOKE_EXPIRES`` seconds, 3 hours by default)."""
    from celery.worker.state import REVOKE_EXPIRES

    sent_at = meta.get("sent_at")
    if _ready_at is None or isinstance(sent_at, bool) or not isinstance(sent_at, int | float):
        return False
    headers = getattr(request, "request_dict", None)
    if isinstance(headers, dict) and headers.get("retries"):
        return False
    if time.time() - sent_at > REVOKE_EXPIRES - REVOKE_MARGIN:
        return False
    return sent_at > _ready_at + REVOKE_MARGIN


def _on_received(sender: object = None, request: object = None, **kwargs: object) -> None:
    """(the worker's main process) A tracked job whose task was cancelled before it started
    is revoked here, so its body never runs, even when the revoke sent with the cancel did not
    reach this worker (it was not running then). A job sent while this worker ran needs no
    query: the revoke reached it."""
    meta = _meta(request)
    if meta is None or _revoke_reached_this_worker(meta, request):
        return
    try:
        cancelled = cancelled_before_start(uuid_module.UUID(str(meta["uuid"])))
    except Exception:
        logger.warning("Could not check task %s for a cancel.", meta.get("uuid"), exc_info=True)
        # A connection that broke stays broken in this long-lived process: the next check
        # opens a new one.
        connections[router.db_for_read(AsyncTask)].close()
        return
    task_id = getattr(request, "id", None)
    if cancelled and task_id:
        from celery.worker import state

        state.revoked.add(str(task_id))


def _on_prerun(sender: object = None, task: object = None, **kwargs: object) -> None:
    task = task or sender
    request = getattr(task, "request", None)
    meta = _meta(request)
    if meta is None:
        return
    throws = getattr(task, "throws", ())
    if TaskCancelled not in throws:
        # Expected: Celery logs it as such (at INFO), not as an error with its traceback.
        setattr(task, "throws", (*throws, TaskCancelled))  # noqa: B010
    tracker = _new_tracker(meta, in_worker=not getattr(request, "is_eager", False))
    if tracker is None:
        return
    # The job runs in the language of the person who started it, until task_postrun.
    language = job_language(meta.get("language"))
    language.__enter__()
    setattr(request, _LANGUAGE_ATTR, language)
    setattr(request, _TRACKER_ATTR, tracker)
    setattr(request, _TOKEN_ATTR, activate(tracker.progress))
    retries = getattr(request, "retries", 0) or 0
    tracker.start(attempt=retries + 1, max_attempts=_attempts(task))


def _on_success(sender: object = None, **kwargs: object) -> None:
    tracker = _tracker_of(getattr(sender, "request", None))
    if tracker is not None:
        tracker.succeed()


def _on_failure(
    sender: object = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    **kwargs: object,
) -> None:
    request = getattr(sender, "request", None)
    tracker = _tracker_of(request)
    if tracker is None:
        # Not started in this process: a prefork child lost (WorkerLostError) or a hard time
        # limit hit, reported by the worker's main process; a rejected message.
        meta = _meta(request)
        if meta is None and isinstance(exception, WorkerLostError | TimeLimitExceeded):
            # The main process may not have the message's headers at hand: a tracked task's
            # Celery id is its row's uuid.
            meta = _meta_from_task_id(task_id)
        tracker = _new_tracker(meta) if meta is not None else None
    if tracker is None or exception is None:
        return
    if isinstance(exception, TaskCancelled):
        tracker.cancel()
    else:
        tracker.fail(exception)


def _meta_from_task_id(task_id: str | None) -> dict[str, Any] | None:
    try:
        task_uuid = uuid_module.UUID(str(task_id))
    except ValueError:
        return None
    try:
        exists = AsyncTask.objects.filter(uuid=task_uuid).unfinished().exists()
    except Exception:
        logger.warning("Could not look up task %s.", task_uuid, exc_info=True)
        return None
    return {"uuid": str(task_uuid)} if exists else None


def _on_retry(
    sender: object = None, request: object = None, reason: object = None, **kwargs: object
) -> None:
    tracker = _tracker_of(request)
    if tracker is None:
        return
    retries = getattr(request, "retries", 0) or 0
    # ``reason`` is Celery's Retry; the error that caused it is its ``exc`` when given.
    error = getattr(reason, "exc", None) or reason
    if isinstance(error, TaskCancelled) or _cancel_asked(tracker):
        # Cancelled (an autoretry_for caught TaskCancelled, or the attempt failed once its
        # person had asked to stop it): the task is over, and the next attempt, already sent, is
        # revoked; a worker that receives it checks the row too (a retry is always checked).
        tracker.cancel()
        task_id = getattr(request, "id", None)
        if task_id:
            with contextlib.suppress(Exception):
                revoke([str(task_id)], False)
        return
    if not isinstance(error, BaseException):
        error = RuntimeError(str(error))
    tracker.retry(error, attempt=retries + 1)


def _on_postrun(sender: object = None, task: object = None, **kwargs: object) -> None:
    request = getattr(task or sender, "request", None)
    token = getattr(request, _TOKEN_ATTR, None)
    if token is not None:
        deactivate(token)
        setattr(request, _TOKEN_ATTR, None)
    language = getattr(request, _LANGUAGE_ATTR, None)
    if language is not None:
        setattr(request, _LANGUAGE_ATTR, None)
        language.__exit__(None, None, None)


class TaskRevoked(Exception):
    """The Celery task was revoked before it could finish."""


class TaskUnknown(Exception):
    """No worker knows the Celery task: it is not registered where the message went."""


def _on_revoked(
    sender: object = None,
    request: object = None,
    terminated: bool = False,
    signum: object = None,
    expired: bool = False,
    **kwargs: object,
) -> None:
    meta = _meta(request)
    tracker = _tracker_of(request) or (_new_tracker(meta) if meta is not None else None)
    if tracker is None:
        return
    if not expired and _cancel_asked(tracker):
        tracker.cancel()  # revoked (or terminated) because its person cancelled it
        return
    reason = "expired" if expired else ("terminated" if terminated else "revoked")
    tracker.fail(TaskRevoked(f"The task was {reason}."))


def _cancel_asked(tracker: Tracker) -> bool:
    try:
        return is_cancel_requested(tracker.uuid)
    except Exception:
        return False


def _on_unknown(
    sender: object = None, message: object = None, name: str | None = None, **kwargs: object
) -> None:
    headers = getattr(message, "headers", None) or {}
    meta = headers.get(HEADER) if isinstance(headers, dict) else None
    if not isinstance(meta, dict) or not meta.get("uuid"):
        return
    tracker = _new_tracker(meta)
    if tracker is not None:
        tracker.fail(TaskUnknown(f"No worker knows the task {name!r}."))


def _on_worker_exit(**kwargs: object) -> None:
    drain()


_HANDLERS: tuple[tuple[Signal, Callable[..., None]], ...] = (
    (signals.task_received, _on_received),
    (signals.worker_ready, _on_worker_ready),
    (signals.task_prerun, _on_prerun),
    (signals.task_success, _on_success),
    (signals.task_failure, _on_failure),
    (signals.task_retry, _on_retry),
    (signals.task_postrun, _on_postrun),
    (signals.task_revoked, _on_revoked),
    (signals.task_unknown, _on_unknown),
    (signals.worker_process_shutdown, _on_worker_exit),
    (signals.worker_shutdown, _on_worker_exit),
)


def revoke(uuids: list[str], terminate: bool) -> None:
    """Revoke the jobs of cancelled tasks through the current Celery app (the project's)."""
    from celery import current_app

    current_app.control.revoke(uuids, terminate=terminate, signal="SIGTERM")


def connect_signals() -> None:
    """Connect the lifecycle handlers (idempotent) and have cancels revoke the jobs they stop.
    ``OsisAsyncConfig.ready()`` calls it."""
    register_revoker(CELERY, revoke)
    register_revoker(CELERY_TERMINATE, revoke)
    for signal, handler in _HANDLERS:
        signal.connect(handler, weak=False, dispatch_uid=f"osis_async.{handler.__name__}")


def disconnect_signals() -> None:
    for signal, handler in _HANDLERS:
        signal.disconnect(handler, dispatch_uid=f"osis_async.{handler.__name__}")


# --- the retention purge ----------------------------------------------------------------------


def purge_finished(batch_size: int = 1000, pause: float = 0.0) -> int:
    """Delete the finished tasks older than ``OSIS_ASYNC_RETENTION`` days, in short batches,
    like ``manage.py purge_async_tasks``; run it from Celery beat once a day (docs/retention.md)::

    CELERY_BEAT_SCHEDULE = {
        "osis-async-purge": {
            "task": "osis_async.purge_async_tasks",
            "schedule": crontab(hour=3, minute=17),
            "options": {"expires": 3600},
        },
    }
    """
    count = retention.purge(retention.cutoff(), batch_size=batch_size, pause=pause)
    logger.info("Retention purge: %d finished task(s) deleted.", count)
    return count


purge_async_tasks: CeleryTask = shared_task(
    name="osis_async.purge_async_tasks", ignore_result=True
)(purge_finished)
