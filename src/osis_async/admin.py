"""The admin of the tasks: a list to watch and search, and a view-only page per task.

Workers write the tasks, so nobody edits one here: a task's page has no Save button (it is the
admin's view-only page, and a POST to it is refused); the changes the admin makes are the
actions "Cancel selected tasks" (as the person's own cancel: ``osis_async.cancels``) and "Mark
selected running tasks as errored" (for tasks whose worker is gone), for the change permission.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from osis_async.cancels import cancel_tasks
from osis_async.models.task import AsyncTask

ADMIN_ERROR_MESSAGE = "Marked as errored from the admin."
#: A search term of at least this many hex digits (dashes allowed) is looked up as the start of
#: a uuid: the changelist shows the first 8.
UUID_PREFIX_MIN_DIGITS = 8
_HEX_DIGITS = re.compile(r"[0-9a-f]+")


def uuid_prefix_range(term: str) -> tuple[uuid_module.UUID, uuid_module.UUID] | None:
    """The smallest and largest uuids starting with ``term``, or None when ``term`` is not the
    start of a uuid of at least ``UUID_PREFIX_MIN_DIGITS`` hex digits (dashes are ignored).

    ``uuid BETWEEN lower AND upper`` is a range of the uuid's unique index, on PostgreSQL (a
    ``uuid`` column) and on SQLite (32 lowercase hex digits, compared as text) alike.
    """
    digits = term.strip().lower().replace("-", "")
    if not UUID_PREFIX_MIN_DIGITS <= len(digits) <= 32 or not _HEX_DIGITS.fullmatch(digits):
        return None
    return uuid_module.UUID(digits.ljust(32, "0")), uuid_module.UUID(digits.ljust(32, "f"))


if TYPE_CHECKING:
    TaskAdminBase = admin.ModelAdmin[AsyncTask]
else:  # generic for type checkers only
    TaskAdminBase = admin.ModelAdmin


@admin.register(AsyncTask)
class AsyncTaskAdmin(TaskAdminBase):
    list_display = (
        "short_uuid",
        "name",
        "state",
        "progress_bar",
        "person",
        "created_at",
        "started_at",
        "completed_at",
    )
    list_filter = ("state", "runner")
    search_fields = ("name",)
    search_help_text = _("A name, or the first 8 characters or more of a uuid.")
    list_select_related = ("person",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    fields = (
        "uuid",
        "name",
        "description",
        "person",
        "state",
        "progression",
        "time_to_live",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "cancel_requested_at",
        "runner",
        "error_message",
        "result_url",
        "result_label",
        "result_filename",
        "traceback_block",
    )
    readonly_fields = fields
    actions = ("cancel", "mark_errored")

    class Media:
        css = {"all": ("osis_async/admin.css",)}

    @admin.display(description=_("UUID"), ordering="uuid")
    def short_uuid(self, task: AsyncTask) -> SafeString:
        """The uuid's first 8 characters (the whole uuid in the title), on one line."""
        return format_html(
            '<span class="osis-async-uuid" title="{}">{}</span>', task.uuid, task.uuid.hex[:8]
        )

    @admin.display(description=_("progression"), ordering="progression")
    def progress_bar(self, task: AsyncTask) -> SafeString:
        """A bar coloured by state: blue while it runs, green when done, red on error, grey
        when cancelled."""
        return format_html(
            '<progress max="100" value="{}" class="osis-async-progress osis-async-progress-{}" '
            'title="{}%">{}%</progress> {}%',
            task.progression,
            str(task.state).lower(),
            task.progression,
            task.progression,
            task.progression,
        )

    @admin.display(description=_("traceback"))
    def traceback_block(self, task: AsyncTask) -> str:
        """Preformatted and monospace, so its indentation shows; escaped, never HTML."""
        if not task.traceback:
            return self.get_empty_value_display()
        return format_html('<pre class="osis-async-traceback">{}</pre>', task.traceback)

    @admin.action(description=_("Cancel selected tasks"), permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[AsyncTask]) -> None:
        count = cancel_tasks(AsyncTask.objects.filter(pk__in=queryset.values("pk")))
        self.message_user(
            request,
            ngettext(
                "%(count)d running task cancelled: a pending one at once, a processing one at "
                "its next report.",
                "%(count)d running tasks cancelled: pending ones at once, processing ones at "
                "their next report.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Mark selected running tasks as errored"), permissions=["change"])
    def mark_errored(self, request: HttpRequest, queryset: QuerySet[AsyncTask]) -> None:
        count = AsyncTask.objects.filter(pk__in=queryset.values("pk")).mark_errored(
            timezone.now(), ADMIN_ERROR_MESSAGE, gettext("Stopped by an administrator.")
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d running task marked as errored.",
                "%(count)d running tasks marked as errored.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AsyncTask], search_term: str
    ) -> tuple[QuerySet[AsyncTask], bool]:
        """A term that is the start of a uuid (8 hex digits or more, with or without dashes)
        finds the tasks whose uuid starts with it, through the uuid's index; when none does,
        it is searched in the names, as any other term."""
        bounds = uuid_prefix_range(search_term)
        if bounds is not None:
            by_uuid = queryset.filter(uuid__gte=bounds[0], uuid__lte=bounds[1])
            if by_uuid.exists():
                return by_uuid, False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A task's own page is view-only (no Save buttons, a POST refused: workers write
        tasks); the list's action still asks for the change permission."""
        if obj is not None:
            return False
        return super().has_change_permission(request)
