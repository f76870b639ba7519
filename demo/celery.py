"""The demo's Celery app, used when ``DEMO_BROKER_URL`` is set.

Run a worker (with the TTL sweep on Celery beat) as a site would::

    DEMO_BROKER_URL=redis://127.0.0.1:6379/0 celery -A demo.celery worker --beat

Every ``CELERY_*`` setting of ``demo/settings.py`` configures it. The osis_async package creates
no app of its own: its tasks are ``shared_task``\\ s that bind to this one.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

app = Celery("demo")
app.config_from_object("django.conf:settings", namespace="CELERY")
