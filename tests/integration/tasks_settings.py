"""django.tasks settings shared by the test process (through override_settings) and the
``db_worker`` process."""

import tempfile
from pathlib import Path

import django

TASKS_APPS = ["django_tasks_db"]
if django.VERSION < (6, 0):
    TASKS_APPS.insert(0, "django_tasks")  # the backport

TASKS = {
    "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
    if django.VERSION < (6, 0)
    else {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
    "db": {"BACKEND": "django_tasks_db.DatabaseBackend"},
}


def results_folder(db_name: str) -> str:
    """Where the workers and the test process keep result files for the test database
    ``db_name``."""
    return str(Path(tempfile.gettempdir()) / f"osis-async-results-{db_name}")
