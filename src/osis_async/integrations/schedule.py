"""Ready-made Celery beat entries. Safe to import from a settings module (imports nothing)."""

from __future__ import annotations

from typing import Any

#: The registered name of the TTL sweep task (``osis_async.integrations.celery``).
TTL_SWEEP_TASK = "osis_async.check_async_task_ttl"


def ttl_sweep_entry(every: float = 60.0) -> dict[str, Any]:
    """A ``beat_schedule`` entry running the TTL sweep every ``every`` seconds::

    from osis_async.integrations.schedule import ttl_sweep_entry

    CELERY_BEAT_SCHEDULE = {"osis-async-ttl-sweep": ttl_sweep_entry()}

    The sweep marks as ``ERROR`` the tasks that outlived their time to live; each message
    expires after one period, so a beat running while no worker does queues no backlog.
    """
    if every <= 0:
        raise ValueError(f"every must be a positive number of seconds, got {every!r}.")
    return {"task": TTL_SWEEP_TASK, "schedule": every, "options": {"expires": every}}
