"""``celery -A tests.integration.worker_app worker``: a test worker, configured by environment."""

import os

from tests.integration.celery_app import make_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integration.worker_settings")

app = make_app(os.environ["OSIS_ASYNC_TEST_BROKER_URL"], os.environ["OSIS_ASYNC_TEST_QUEUE"])
app.set_current()
app.set_default()
