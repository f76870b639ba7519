"""Run tracked jobs with a task queue: Celery (``.celery``) or Django's tasks framework
(``.django_tasks``).

Each integration module imports its framework; this package and ``.schedule`` import neither,
so ``osis_async`` works without Celery or django-tasks installed. What both share lives in
``.progress`` (the throttled progress reporter a job calls) and ``.tracking`` (the row's
lifecycle and the enqueue-on-commit step).
"""
