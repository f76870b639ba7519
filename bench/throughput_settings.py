"""Settings of ``bench/throughput.py`` (its process and its worker's): PostgreSQL, nothing else.

``BENCH_PG*`` variables name the server (default 127.0.0.1:5432, user postgres, database
osis_async_bench_tracking); ``BENCH_CONN_MAX_AGE`` the seconds a worker keeps its connection (60).
"""

import os

SECRET_KEY = "osis-async-bench-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "osis_async"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("BENCH_PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("BENCH_PGPORT", "5432"),
        "USER": os.environ.get("BENCH_PGUSER", "postgres"),
        "PASSWORD": os.environ.get("BENCH_PGPASSWORD", ""),
        "NAME": os.environ.get("BENCH_PGDATABASE", "osis_async_bench_tracking"),
        "CONN_MAX_AGE": int(os.environ.get("BENCH_CONN_MAX_AGE", "60")),
    }
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"osis_async": {"handlers": ["console"], "level": "WARNING"}},
}
