"""Settings of the servers ``bench/load_profile.py`` starts: the demo, on PostgreSQL, quieter.

The script sets ``DEMO_DATABASE_URL`` (the demo reads it) and the stream's periods, which it
divides by its time compression factor: ``LOAD_STREAM_KEEPALIVE`` (50 s in real time) and
``LOAD_STREAM_MAX_AGE`` (21,600 s). ``LOAD_DB_POOL=1`` replaces the demo's persistent connections
(``CONN_MAX_AGE = 60``) by psycopg's connection pool, as Django advises under ASGI.
"""

import os

from demo.settings import *  # noqa: F403
from demo.settings import DATABASES

DEBUG = False
OSIS_ASYNC_STREAM_KEEPALIVE = float(os.environ.get("LOAD_STREAM_KEEPALIVE", "50"))
OSIS_ASYNC_STREAM_MAX_AGE = float(os.environ.get("LOAD_STREAM_MAX_AGE", "21600"))
if os.environ.get("LOAD_DB_POOL") == "1":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"pool": True}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # Not the readiness probe's anonymous 403s; 500s still show.
    "loggers": {"django.request": {"level": "ERROR"}},
}
