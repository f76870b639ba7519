from importlib.util import find_spec

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OsisAsyncConfig(AppConfig):
    name = "osis_async"
    verbose_name = _("Asynchronous tasks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from osis_async import checks, conf, results  # noqa: F401  (registers checks and signal handlers)
        from osis_async.events import signals

        signals.connect()

        if find_spec("celery") is not None:
            # Celery is installed: track the runs of tracked tasks (a no-op for the others) and
            # register the TTL sweep task. No Celery app is created here.
            from osis_async.integrations.celery import connect_signals

            connect_signals()
