"""Settings of the servers ``bench/load_profile.py`` starts: the demo, on PostgreSQL, quieter.

The script sets ``DEMO_DATABASE_URL`` (the demo reads it) and the stream's periods, which it
divides by its time compression factor: ``LOAD_STREAM_KEEPALIVE`` (50 s in real time) and
``LOAD_STREAM_MAX_AGE`` (21,600 s). ``DEMO_DB_POOL=1`` replaces the demo's persistent connections
(``CONN_MAX_AGE = 60``) by psycopg's connection pool, the demo's ``DATABASE_POOL`` (its web
process under uvicorn uses it); ``LOAD_POOL_MAX_SIZE`` and ``LOAD_POOL_TIMEOUT`` change its
``max_size`` and ``timeout`` for an experiment; ``LOAD_CONN_MAX_AGE`` sets ``CONN_MAX_AGE``
without the pool.
"""

import os

from demo.settings import *  # noqa: F403
from demo.settings import DATABASES

DEBUG = False
OSIS_ASYNC_STREAM_KEEPALIVE = float(os.environ.get("LOAD_STREAM_KEEPALIVE", "50"))
OSIS_ASYNC_STREAM_MAX_AGE = float(os.environ.get("LOAD_STREAM_MAX_AGE", "21600"))
_pool = DATABASES["default"].get("OPTIONS", {}).get("pool")
if _pool:
    if "LOAD_POOL_MAX_SIZE" in os.environ:
        _pool["max_size"] = int(os.environ["LOAD_POOL_MAX_SIZE"])
        _pool["min_size"] = min(_pool["min_size"], _pool["max_size"])
    if "LOAD_POOL_TIMEOUT" in os.environ:
        _pool["timeout"] = float(os.environ["LOAD_POOL_TIMEOUT"])
elif "LOAD_CONN_MAX_AGE" in os.environ:
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["LOAD_CONN_MAX_AGE"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # Not the readiness probe's anonymous 403s; 500s still show.
    "loggers": {"django.request": {"level": "ERROR"}},
}
