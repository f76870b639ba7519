"""Settings of the worker processes the integration tests start: the test suite's, on the
PostgreSQL test database pytest-django created (``OSIS_ASYNC_TEST_DB_NAME``), plus django.tasks'
database backend."""

import os
from typing import Any

from django.conf import global_settings

from tests.integration import tasks_settings
from tests.integration.tasks_settings import results_folder
from tests.settings import *  # noqa: F403

TASKS = tasks_settings.TASKS
INSTALLED_APPS = [*INSTALLED_APPS, *tasks_settings.TASKS_APPS]  # noqa: F405
_database: dict[str, Any] = DATABASES["default"]  # noqa: F405
_database["CONN_MAX_AGE"] = 60
if _database["ENGINE"] == "django.db.backends.postgresql":
    # A throwaway test database: commits need not wait for the disk.
    _database["OPTIONS"] = {"options": "-c synchronous_commit=off"}
DEBUG = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "osis_async": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "tests": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Result files go to a folder the test process reads too (``shared_results`` in conftest).
STORAGES = {
    **global_settings.STORAGES,
    "results": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": results_folder(os.environ.get("OSIS_ASYNC_TEST_DB_NAME", ""))},
    },
}
OSIS_ASYNC_RESULT_STORAGE = "results"
