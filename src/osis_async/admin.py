from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from osis_async.models.task import AsyncTask

ADMIN_ERROR_MESSAGE = "Marked as errored from the admin."


@admin.register(AsyncTask)
class AsyncTaskAdmin(admin.ModelAdmin):
    list_display = (
        "uuid",
        "name",
        "state",
        "progress_bar",
        "person",
        "created_at",
        "started_at",
        "completed_at",
    )
    list_filter = ("state",)
    search_fields = ("name", "=uuid")
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
        "traceback",
    )
    readonly_fields = fields
    actions = ("mark_errored",)

    @admin.display(description=_("progression"), ordering="progression")
    def progress_bar(self, task: AsyncTask) -> str:
        return format_html(
            '<progress max="100" value="{}" title="{}%">{}%</progress> {}%',
            task.progression,
            task.progression,
            task.progression,
            task.progression,
        )

    @admin.action(description=_("Mark selected running tasks as errored"))
    def mark_errored(self, request: HttpRequest, queryset: QuerySet[AsyncTask]) -> None:
        count = AsyncTask.objects.filter(pk__in=queryset.values("pk")).mark_errored(
            timezone.now(), ADMIN_ERROR_MESSAGE
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
