"""django.tasks settings shared by the test process (through override_settings) and the
``db_worker`` process."""

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
