from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OsisAsyncConfig(AppConfig):
    name = "osis_async"
    verbose_name = _("Asynchronous tasks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from osis_async import checks, conf  # noqa: F401  (registers checks and signal handlers)
