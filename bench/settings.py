"""Settings for the benchmarks: PostgreSQL, the app, and a floor view beside the list."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import postgres_database

DATABASES = {
    "default": {
        **postgres_database(os.environ.get("OSIS_ASYNC_BENCH_DB", "osis_async_bench")),
        "CONN_MAX_AGE": None,
    }
}
ROOT_URLCONF = "bench.urls"
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": True}
