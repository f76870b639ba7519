"""django.tasks integration: a task of Django's tasks framework whose runs are tracked.

Django 6.0+ ships ``django.tasks``; on Django 5.2 the ``django-tasks`` backport provides the
same API (``from django_tasks import task``). This module uses whichever is there, preferring
``django.tasks``. ::

    from django.tasks import task   # Django 5.2: from django_tasks import task
    from django.utils.translation import gettext_lazy as _
    from osis_async.integrations.django_tasks import progress, tracked_task

    @tracked_task(name=_("Students export"), description=_("All students."), time_to_live=10)
    @task()
    def export_students(year):
        rows = fetch(year)
        for done, row in enumerate(rows, 1):
            write(row)
            progress().report(done, len(rows))

    task_uuid = export_students.enqueue_for(request.user, 2024)   # the AsyncTask's uuid, at once

How it works. ``tracked_task`` returns the same task (a ``TrackedTask``, a subclass of the
framework's ``Task``: ``using()``, ``enqueue()``, ``call()`` work as before) whose function is
wrapped. ``enqueue_for`` creates the row (``PENDING``) and, once the current transaction commits,
enqueues the job with extra keyword arguments, the row's uuid (``osis_async_task``) and the
language active at ``enqueue_for`` (``osis_async_language``). The wrapper takes them out
before calling the function, runs it under that language, and writes the lifecycle around it:
``PROCESSING`` when the worker starts it, ``DONE`` when it returns, ``ERROR`` with the traceback
when it raises (the exception is re-raised for the backend to record). A job whose task was
cancelled before it started does not run (the backend records it as returning ``None``); one
that stops at its person's request (``TaskCancelled`` from ``progress().report``) ends
``CANCELLED`` and returns ``None`` too. This works with every
backend (immediate, database, ...) because it runs inside the job itself. A plain ``enqueue()``
runs untracked. The framework has no retries; the TTL sweep runs from cron
(``manage.py check_async_task_ttl``).
"""

from __future__ import annotations

import functools
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from inspect import iscoroutinefunction
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from asgiref.sync import sync_to_async

from osis_async.cancels import DJANGO_TASKS, cancelled_before_start
from osis_async.exceptions import TaskCancelled
from osis_async.integrations.progress import (
    TaskProgress,
    activate,
    current_progress,
    deactivate,
)
from osis_async.integrations.tracking import (
    TaskSpec,
    Tracker,
    enqueue,
    enqueue_language,
    job_language,
)

P = ParamSpec("P")
R = TypeVar("R")

if TYPE_CHECKING:
    from django.tasks import Task

    _GenericTask = Task
else:
    try:
        from django.tasks import Task
    except ImportError:  # Django < 6.0: the django-tasks backport
        from django_tasks.base import Task

    if hasattr(Task, "__class_getitem__"):
        _GenericTask = Task
    else:  # django.tasks' Task is generic for type checkers only

        class _GenericTask(Task, Generic[P, R]):
            __slots__ = ()


__all__ = ["LANGUAGE_KWARG", "TASK_KWARG", "TrackedTask", "progress", "tracked_task"]

#: The keyword argument that carries the row's uuid to the job (taken out before the call).
TASK_KWARG = "osis_async_task"
#: The keyword argument that carries the language active at ``enqueue_for`` (taken out too).
LANGUAGE_KWARG = "osis_async_language"
_SPEC_ATTR = "__osis_async_tracking__"
_ORIGINAL_ATTR = "__osis_async_original__"


class TrackedTask(_GenericTask[P, R]):
    """A django.tasks ``Task`` whose runs started by ``enqueue_for`` are tracked."""

    __slots__ = ()

    @property
    def tracking(self) -> TaskSpec:
        spec = getattr(self.func, _SPEC_ATTR)
        assert isinstance(spec, TaskSpec)
        return spec

    def using(
        self,
        *,
        priority: int | None = None,
        queue_name: str | None = None,
        run_after: datetime | None = None,
        backend: str | None = None,
    ) -> TrackedTask[P, R]:
        """The framework's ``using()``; the copy stays tracked (``enqueue_for`` included)."""
        task = super().using(
            priority=priority, queue_name=queue_name, run_after=run_after, backend=backend
        )
        assert isinstance(task, TrackedTask)
        return task

    def enqueue_for(self, person: Any, /, *args: P.args, **kwargs: P.kwargs) -> uuid_module.UUID:
        """Queue the job for ``person``, like ``enqueue(*args, **kwargs)``; return the uuid.

        The row exists (``PENDING``) when this returns; the job is enqueued when the current
        transaction commits (at once outside a transaction; with the immediate backend, that
        means it has run by then).
        """
        for reserved in (TASK_KWARG, LANGUAGE_KWARG):
            if reserved in kwargs:
                raise TypeError(f"{reserved!r} is set by enqueue_for; do not pass it.")
        language = enqueue_language()

        def send(task_uuid: uuid_module.UUID, description: str) -> None:
            extra = {TASK_KWARG: str(task_uuid)}
            if language is not None:
                extra[LANGUAGE_KWARG] = language
            self.get_backend().enqueue(self, list(args), {**kwargs, **extra})

        return enqueue(self.tracking, person, send, runner=DJANGO_TASKS)

    def with_tracking(
        self, *, name: Any = None, description: Any = None, time_to_live: int | None = None
    ) -> TrackedTask[P, R]:
        """The same task shown with another name, description or time to live."""
        spec = self.tracking.replace(name=name, description=description, time_to_live=time_to_live)
        return _tracked_copy(self, _wrap(getattr(self.func, _ORIGINAL_ATTR), spec))


def tracked_task(
    *, name: Any, description: Any = "", time_to_live: int = 5
) -> Callable[[Task[P, R]], TrackedTask[P, R]]:
    """Mark a django.tasks task as tracked. Put it above ``@task()``.

    ``name`` and ``description`` are what the user sees (lazy translations are welcome);
    ``time_to_live`` is the minutes the job has once started before the TTL sweep gives up.
    """
    spec = TaskSpec(name=name, description=description, time_to_live=time_to_live)

    def decorate(task: Task[P, R]) -> TrackedTask[P, R]:
        if isinstance(task, TrackedTask):
            raise TypeError("This task is tracked already.")
        if not isinstance(task, Task):
            raise TypeError(
                "tracked_task goes above @task(): it takes a django.tasks Task, got "
                f"{task!r}. (On Django 6 use django.tasks, not the django-tasks backport.)"
            )
        return _tracked_copy(task, _wrap(task.func, spec))

    return decorate


def progress() -> TaskProgress:
    """The progress reporter of the tracked job running here (a no-op one elsewhere)."""
    return current_progress()


def _tracked_copy(task: Task[Any, Any], func: Callable[..., Any]) -> TrackedTask[Any, Any]:
    values = {field.name: getattr(task, field.name) for field in fields(task) if field.init}
    values["func"] = func
    try:
        return TrackedTask(**values)
    except TypeError as error:
        raise TypeError(f"Cannot track a {type(task).__name__}: {error}") from error


def _wrap(func: Callable[..., Any], spec: TaskSpec) -> Callable[..., Any]:
    wrapper: Callable[..., Any]
    if iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            task_uuid = kwargs.pop(TASK_KWARG, None)
            language = kwargs.pop(LANGUAGE_KWARG, None)
            if task_uuid is None:
                return await func(*args, **kwargs)
            if await sync_to_async(cancelled_before_start)(task_uuid):
                return None
            with job_language(language):
                tracker = Tracker(task_uuid)
                await sync_to_async(tracker.start)()
                token = activate(tracker.progress)
                try:
                    result = await func(*args, **kwargs)
                except TaskCancelled:
                    await sync_to_async(tracker.cancel)()
                    return None
                except BaseException as error:
                    await sync_to_async(tracker.fail)(error)
                    raise
                finally:
                    deactivate(token)
                await sync_to_async(tracker.succeed)()
                return result

        wrapper = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            task_uuid = kwargs.pop(TASK_KWARG, None)
            language = kwargs.pop(LANGUAGE_KWARG, None)
            if task_uuid is None:
                return func(*args, **kwargs)
            if cancelled_before_start(task_uuid):
                return None
            with job_language(language):
                tracker = Tracker(task_uuid)
                tracker.start()
                token = activate(tracker.progress)
                try:
                    result = func(*args, **kwargs)
                except TaskCancelled:
                    tracker.cancel()
                    return None
                except BaseException as error:
                    tracker.fail(error)
                    raise
                finally:
                    deactivate(token)
                tracker.succeed()
                return result

        wrapper = sync_wrapper
    setattr(wrapper, _SPEC_ATTR, spec)
    setattr(wrapper, _ORIGINAL_ATTR, func)
    return wrapper
