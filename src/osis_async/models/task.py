from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import NotSupportedError, connections, models, router, transaction
from django.db.models import Count, ExpressionWrapper, F, Q
from django.db.models.functions import Cast, Coalesce, Concat, Greatest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from osis_async.changes import Change, announce
from osis_async.conf import get_settings, whole_setting
from osis_async.models.enums.task import Runner, TaskState
from osis_async.result_storage import (
    RESULT_PATH_MAX_LENGTH,
    delete_result_file,
    result_path,
    result_storage,
)
from osis_async.text import escape_unstorable
from osis_async.validation import (
    NAME_MAX_LENGTH,
    PROGRESSION_MAX,
    PROGRESSION_MIN,
    validate_task,
)

MINUTE = datetime.timedelta(minutes=1)


#: What the TTL sweep writes into ``traceback`` of a task it gives up on.
TTL_EXPIRED_MESSAGE = "Expired: the task did not finish within its time to live."
PENDING_EXPIRED_MESSAGE = "Expired: the task never started."


def expired_reason() -> models.Expression:
    """What the person reads of a task the TTL sweep gave up on, in the active language: "Never
    started." or "Did not finish within N minutes." (N its ``time_to_live``)."""

    def within(minutes: int | str) -> str:
        return ngettext(
            "Did not finish within %(minutes)s minute.",
            "Did not finish within %(minutes)s minutes.",
            2 if isinstance(minutes, str) else minutes,
        ) % {"minutes": minutes}

    before, _, after = within("\x00").partition("\x00")
    text = models.TextField()
    return models.Case(
        models.When(state=TaskState.PENDING, then=models.Value(gettext("Never started."))),
        models.When(time_to_live=0, then=models.Value(within(0))),
        models.When(time_to_live=1, then=models.Value(within(1))),
        default=Concat(
            models.Value(before), Cast("time_to_live", text), models.Value(after), output_field=text
        ),
        output_field=text,
    )


def touched(now: datetime.datetime) -> models.Func:
    """``updated_at`` for a row written at ``now``: never earlier than its previous value, so the
    list's version moves even when machines' clocks disagree a little."""
    return Greatest(models.Value(now, output_field=models.DateTimeField()), NextMicrosecond())


class NextMicrosecond(models.Func):
    """``updated_at`` plus one microsecond; on PostgreSQL a constant interval, so a progress tick
    carries no parameter for it."""

    output_field = models.DateTimeField()

    def __init__(self) -> None:
        super().__init__(F("updated_at"))

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra_context: Any) -> Any:
        later = ExpressionWrapper(
            F("updated_at") + datetime.timedelta(microseconds=1),
            output_field=models.DateTimeField(),
        )
        return compiler.compile(later.resolve_expression(compiler.query))

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return super().as_sql(
            compiler, connection, template="(%(expressions)s + interval '1 microsecond')"
        )


class Unfinished(models.Expression):
    """``state NOT IN ('DONE', 'ERROR', 'CANCELLED')`` with the states written into the SQL: a
    progress tick sends no parameter for them."""

    conditional = True
    output_field = models.BooleanField()

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        state, params = compiler.compile(F("state").resolve_expression(compiler.query))
        finished = ", ".join(f"'{value}'" for value in FINISHED_VALUES)
        return f"{state} NOT IN ({finished})", params


#: The final states as SQL may spell them: names of ``TaskState`` members, capital letters only.
FINISHED_VALUES = tuple(str(state.value) for state in TaskState.finished())
if not all(value.isalpha() and value.isupper() for value in FINISHED_VALUES):
    raise ImproperlyConfigured(f"A final state is not a word in capitals: {FINISHED_VALUES}.")


class Minutes(models.Func):
    """A whole number of minutes as a duration, on SQLite and PostgreSQL."""

    output_field = models.DurationField()

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra_context: Any) -> Any:
        raise NotSupportedError(
            f"osis_async supports the sqlite and postgresql database backends, not "
            f"{connection.vendor!r}."
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # SQLite holds durations as integer microseconds.
        template = "(%(expressions)s * 60000000)"
        return super().as_sql(compiler, connection, template=template, **extra_context)

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        template = "(%(expressions)s * INTERVAL '1 minute')"
        return super().as_sql(compiler, connection, template=template, **extra_context)


class AsyncTaskQuerySet(models.QuerySet["AsyncTask"]):
    def for_person(self, person: Any) -> AsyncTaskQuerySet:
        return self.filter(person=person)

    def pending(self) -> AsyncTaskQuerySet:
        """Tasks not finished yet, ``PENDING`` or ``PROCESSING``: what the badge counts."""
        return self.filter(state__in=TaskState.running())

    def finished(self) -> AsyncTaskQuerySet:
        return self.filter(state__in=TaskState.finished())

    def unfinished(self) -> AsyncTaskQuerySet:
        return self.filter(Unfinished())

    def counts(self) -> dict[str, int]:
        """``count`` and ``pending_count`` in one aggregate query."""
        return self.aggregate(
            count=Count("pk"),
            pending_count=Count("pk", filter=Q(state__in=TaskState.running())),
        )

    def expired(self, now: datetime.datetime) -> AsyncTaskQuerySet:
        """Running tasks the TTL sweep gives up on at ``now``.

        A ``PROCESSING`` task expires once ``started_at + time_to_live`` minutes is past; a
        ``PENDING`` task once it has waited ``OSIS_ASYNC_PENDING_TIMEOUT`` minutes to start (a
        ``ValueError`` if that setting is out of its range: ``manage.py check`` reports it).
        """
        deadline = ExpressionWrapper(
            F("started_at") + Minutes("time_to_live"), output_field=models.DateTimeField()
        )
        pending_deadline = now - whole_setting("PENDING_TIMEOUT") * MINUTE
        return self.alias(deadline=deadline).filter(
            Q(state=TaskState.PROCESSING, started_at__isnull=False, deadline__lt=now)
            | Q(state=TaskState.PENDING, created_at__lt=pending_deadline)
        )

    def expire(self, now: datetime.datetime) -> int:
        """Move the ``expired(now)`` tasks to ``ERROR`` in one UPDATE; return how many."""
        traceback = models.Case(
            models.When(~Q(traceback=""), then=F("traceback")),
            models.When(state=TaskState.PENDING, then=models.Value(PENDING_EXPIRED_MESSAGE)),
            default=models.Value(TTL_EXPIRED_MESSAGE),
            output_field=models.TextField(),
        )
        return self._published(
            self.expired(now).fail(
                now,
                traceback=traceback,
                error_message=Coalesce(F("error_message"), expired_reason()),
            )
        )

    def purgeable(self, before: datetime.datetime) -> AsyncTaskQuerySet:
        """Finished (``DONE``, ``ERROR`` or ``CANCELLED``) tasks that finished before
        ``before``.

        What the retention purge deletes; never a ``PENDING`` or ``PROCESSING`` task. When a
        task finished is its ``completed_at``; a finished row without one (finished by a plain
        ``UPDATE``, or imported from an older version: ``update_task`` and the sweeps always set
        it) is dated by ``updated_at``, its last write, which finished is final makes the
        moment it finished. Written as two ``state IN (...) AND ...`` branches so each is a range
        of the ``osis_async_completed_idx`` index, on PostgreSQL and on SQLite.
        """
        finished = TaskState.finished()
        return self.filter(
            Q(state__in=finished, completed_at__lt=before)
            | Q(state__in=finished, completed_at__isnull=True, updated_at__lt=before)
        )

    def mark_errored(self, now: datetime.datetime, message: str, reason: str | None = None) -> int:
        """Move the running tasks of this queryset to ``ERROR`` in one UPDATE.

        ``message`` goes into ``traceback`` where the task has none yet, ``reason`` (for the
        person) into ``error_message`` where it has none.
        """
        extra: dict[str, Any] = {}
        traceback = models.Case(
            models.When(traceback="", then=models.Value(escape_unstorable(message))),
            default=F("traceback"),
            output_field=models.TextField(),
        )
        if reason is not None:
            extra["error_message"] = Coalesce(
                F("error_message"), models.Value(escape_unstorable(reason))
            )
        return self._published(self.fail(now, traceback=traceback, **extra))

    # --- the row's state changes: one UPDATE each, on the tasks not finished yet -------------
    # ``now`` dates the write (``updated_at``, and what is left to default). The values are
    # checked by the caller (``update_task`` through ``osis_async.validation``); each returns
    # how many rows changed, and the caller announces the change (``osis_async.changes``).

    def start(self, now: datetime.datetime, **fields: Any) -> int:
        """``PROCESSING``; ``started_at`` is ``now`` unless given or set already."""
        fields.setdefault("started_at", Coalesce(F("started_at"), models.Value(now)))
        return self._change(now, state=TaskState.PROCESSING, **fields)

    def report(self, now: datetime.datetime, **fields: Any) -> int:
        """Progress (``progression``, ``description``...) without a change of state."""
        return self._change(now, **fields)

    def succeed(self, now: datetime.datetime, **fields: Any) -> int:
        """``DONE``, 100 % unless told, ``completed_at`` never before the start."""
        fields.setdefault("progression", PROGRESSION_MAX)
        return self._change(now, state=TaskState.DONE, **self._completed(now, fields))

    def fail(self, now: datetime.datetime, **fields: Any) -> int:
        """``ERROR`` (``traceback`` given by the caller), ``completed_at`` never before the
        start."""
        return self._change(now, state=TaskState.ERROR, **self._completed(now, fields))

    def cancel(self, now: datetime.datetime, **fields: Any) -> int:
        """``CANCELLED``: the job stopped because its person asked, ``completed_at`` never
        before the start."""
        return self._change(now, state=TaskState.CANCELLED, **self._completed(now, fields))

    def request_cancel(self, now: datetime.datetime) -> int:
        """The person asks to stop these tasks, in one UPDATE: a ``PENDING`` one is
        ``CANCELLED`` at once (its job will not run its body), a ``PROCESSING`` one gets
        ``cancel_requested_at`` and is told at its next report. Returns how many were not
        finished yet."""
        pending = Q(state=TaskState.PENDING)
        at = models.Value(now, output_field=models.DateTimeField())
        return self._change(
            now,
            state=models.Case(
                models.When(pending, then=models.Value(TaskState.CANCELLED.value)),
                default=F("state"),
            ),
            completed_at=models.Case(
                models.When(pending, then=Greatest(at, Coalesce(F("started_at"), at))),
                default=F("completed_at"),
            ),
            cancel_requested_at=Coalesce(F("cancel_requested_at"), at),
        )

    def cancel_requested(self) -> AsyncTaskQuerySet:
        """Tasks whose person asked to stop them: ``CANCELLED`` already, or told at their next
        report."""
        return self.filter(Q(cancel_requested_at__isnull=False) | Q(state=TaskState.CANCELLED))

    def dismiss(self) -> int:
        """Delete the finished tasks of this queryset, in one statement (``DELETE ...
        RETURNING``; a ``SELECT`` first where the database cannot return deleted rows). Their
        result files go once it commits; their persons' streams are told. Django's delete
        signals are not sent. Returns how many were deleted."""
        alias = router.db_for_write(self.model)
        connection = connections[alias]
        tasks: models.QuerySet[AsyncTask] = self.finished()
        if len(tasks.query.alias_map) > 1:  # a filter across a relation: by primary key
            tasks = self.model._base_manager.filter(pk__in=tasks.values("pk"))
        meta = self.model._meta
        table = connection.ops.quote_name(meta.db_table)
        columns = ", ".join(
            connection.ops.quote_name(str(getattr(meta.get_field(name), "column", name)))
            for name in ("result_file", "person")
        )
        try:
            where, params = tasks.query.get_compiler(alias).compile(tasks.query.where)
        except EmptyResultSet:
            return 0
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            if connection.features.can_return_columns_from_insert:
                cursor.execute(f"DELETE FROM {table} WHERE {where} RETURNING {columns}", params)
                deleted = cursor.fetchall()
            else:
                cursor.execute(f"SELECT {columns} FROM {table} WHERE {where}", params)
                deleted = cursor.fetchall()
                cursor.execute(f"DELETE FROM {table} WHERE {where}", params)
            for name, _person in deleted:
                if name:
                    transaction.on_commit(
                        functools.partial(delete_result_file, str(name)), using=alias, robust=True
                    )
        persons = frozenset(str(person) for _name, person in deleted if person is not None)
        if persons:
            announce(Change(persons=persons))
        return len(deleted)

    def requeue(self, now: datetime.datetime, **fields: Any) -> int:
        """Back to ``PENDING``, to wait for the next attempt."""
        return self._change(now, state=TaskState.PENDING, **fields)

    @staticmethod
    def _completed(now: datetime.datetime, fields: dict[str, Any]) -> dict[str, Any]:
        if "completed_at" not in fields:
            started = fields.get("started_at")
            if isinstance(started, datetime.datetime):
                fields["completed_at"] = max(now, started)
            else:
                at = models.Value(now, output_field=models.DateTimeField())
                fields["completed_at"] = Greatest(at, Coalesce(F("started_at"), at))
        return fields

    def _change(self, now: datetime.datetime, **values: Any) -> int:
        # Finished is final: a DONE, ERROR or CANCELLED row is never written again.
        return self.unfinished().update(**values, updated_at=touched(now))

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        """``QuerySet.bulk_create``, each task checked as ``save()`` checks it, before any is
        written."""
        tasks = list(objs)
        for task in tasks:
            validate_task(task)
        return super().bulk_create(tasks, *args, **kwargs)

    @staticmethod
    def _published(count: int) -> int:
        """Tell the streams of a bulk change (PostgreSQL's trigger already has)."""
        if count:
            announce(Change.of_everyone())
        return count


class AsyncTask(models.Model):
    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=NAME_MAX_LENGTH)
    description = models.TextField(_("description"), blank=True, default="")
    state = models.CharField(
        _("state"), max_length=10, choices=TaskState.choices, default=TaskState.PENDING
    )
    person = models.ForeignKey(
        get_settings().PERSON_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="async_tasks",
        # The composite indexes below start with the person and serve every lookup by person.
        db_index=False,
    )
    progression = models.PositiveSmallIntegerField(_("progression"), default=0)
    time_to_live = models.PositiveIntegerField(
        _("time to live"), default=5, help_text=_("Minutes the task has to complete once started.")
    )
    traceback = models.TextField(_("traceback"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    # A result to open (osis_async.results): a URL given, or a file kept in the result storage.
    # All nullable without a default, so adding them rewrites no row of a large table.
    result_url = models.TextField(_("result URL"), null=True, blank=True)  # noqa: DJ001
    result_file = models.FileField(
        _("result file"),
        storage=result_storage,
        upload_to=result_path,
        max_length=RESULT_PATH_MAX_LENGTH,
        null=True,
        blank=True,
    )
    #: When the person asked to stop the task (``cancel_task``), while its job had not stopped.
    cancel_requested_at = models.DateTimeField(_("cancel requested at"), null=True, blank=True)
    #: What runs the job (``Runner``); a default in the database too, so code that does not know
    #: the column (the previous version, during a deployment) still inserts rows.
    runner = models.CharField(
        _("runner"),
        max_length=20,
        blank=True,
        choices=Runner.choices,
        default=Runner.SITE,
        db_default=Runner.SITE,
    )
    result_filename = models.TextField(_("result file name"), null=True, blank=True)  # noqa: DJ001
    result_label = models.TextField(_("result label"), null=True, blank=True)  # noqa: DJ001
    #: Short text for the person the task is shown to: why it failed.
    error_message = models.TextField(_("error message"), null=True, blank=True)  # noqa: DJ001

    objects = AsyncTaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("asynchronous task")
        verbose_name_plural = _("asynchronous tasks")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["person", "-created_at", "-id"], name="osis_async_person_recent_idx"
            ),
            # Both counts from the index alone. updated_at is in no index, so a progress tick
            # writes no index entry (a HOT update).
            models.Index(fields=["person", "state"], name="osis_async_person_state_idx"),
            models.Index(
                fields=["state", "started_at"],
                name="osis_async_running_idx",
                condition=Q(state__in=["PENDING", "PROCESSING"]),
            ),
            # The retention purge finds old finished tasks by state and completed_at
            # (``purgeable``). Neither column changes on a progress tick.
            models.Index(fields=["state", "completed_at"], name="osis_async_completed_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progression__gte=PROGRESSION_MIN, progression__lte=PROGRESSION_MAX),
                name="osis_async_progression_0_100",
            ),
            models.CheckConstraint(
                condition=Q(time_to_live__gte=0), name="osis_async_time_to_live_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(state__in=TaskState.values), name="osis_async_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, once the values pass ``osis_async.validation`` (``InvalidTaskUpdate`` if not,
        nothing written), the same on every database."""
        validate_task(self, kwargs.get("update_fields"))
        super().save(*args, **kwargs)

    @property
    def is_finished(self) -> bool:
        return self.state in TaskState.finished()

    @property
    def cancel_requested(self) -> bool:
        """The person asked to stop the task and its job has not stopped yet."""
        return self.cancel_requested_at is not None and not self.is_finished
