"""The Celery app of the integration tests: one for the test process (the producer) and one
per worker process (``worker_app``), both on the same broker and queue."""

from __future__ import annotations

from celery import Celery


def make_app(broker_url: str, queue: str, *, main: str = "osis_async_tests") -> Celery:
    app = Celery(main, set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        broker_connection_retry_on_startup=True,
        task_default_queue=queue,
        task_ignore_result=True,
        task_acks_late=False,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=True,
        imports=["tests.integration.jobs"],
        enable_utc=True,
    )
    return app
