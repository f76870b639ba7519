"""The demo site. By default: SQLite and a database-backed task queue, no server to install.

Environment variables (see docs/integrations.md):

- ``DEMO_DATABASE_URL``: ``postgres://user:password@host:port/name`` runs on PostgreSQL.
- ``DEMO_BROKER_URL``: ``amqp://guest:guest@127.0.0.1:5672//`` or ``redis://127.0.0.1:6379/0``
  runs the jobs with Celery on that broker instead of django.tasks' database queue.
- ``DEMO_DB_POOL``: ``1`` takes PostgreSQL connections from psycopg's pool (``DATABASE_POOL``)
  instead of keeping one per thread. ``demo/asgi.py`` sets it, so the web server under uvicorn
  uses the pool and the worker processes keep their persistent connections.
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import django

from osis_async.integrations.schedule import ttl_sweep_entry

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY", "osis-async-demo-not-secret")
DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
USE_TZ = True
TIME_ZONE = "Europe/Brussels"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
USE_I18N = True


#: psycopg's connection pool of one ASGI web process (docs/live-updates.md, "Deploying under
#: ASGI"). Under ASGI every concurrent request to a sync view runs in a thread of its own, and
#: without a pool each such thread opens a connection of its own: the pool bounds them at
#: ``max_size`` per process. A request waits up to ``timeout`` seconds for one (then a 500), so
#: ``timeout`` stays well above requests in flight / requests per second of one process.
#: The server's connections: processes x (max_size + 1), the 1 being the stream's LISTEN.
DATABASE_POOL = {"min_size": 2, "max_size": 8, "timeout": 30}


def _database(url: str, pool: bool) -> dict[str, object]:
    """``postgres://user:password@host:port/name`` as a ``DATABASES`` entry: psycopg's pool with
    ``pool``, else one persistent connection per thread."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DEMO_DATABASE_URL must start with postgres://, got {url!r}.")
    database: dict[str, object] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "osis_async_demo",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
    if pool:
        # Django refuses a pool with persistent connections.
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"] = {"pool": dict(DATABASE_POOL)}
    return database


DEMO_DATABASE_URL = os.environ.get("DEMO_DATABASE_URL", "")
DEMO_DB_POOL = os.environ.get("DEMO_DB_POOL", "0") == "1"
if DEMO_DATABASE_URL:
    DATABASES = {"default": _database(DEMO_DATABASE_URL, pool=DEMO_DB_POOL)}
else:
    # The web server and the worker processes share this file: WAL lets them read while one
    # writes, IMMEDIATE transactions take the write lock up front (no upgrade deadlock), and
    # the busy timeout makes a writer wait its turn instead of failing.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DEMO_SQLITE_PATH", str(BASE_DIR.parent / "demo-db.sqlite3")),
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "osis_async",
    "demo",
    "django_tasks_db",
]
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")  # the backport of django.tasks

# --- Running the jobs -------------------------------------------------------------------------
# Default: django.tasks with its database backend (django-tasks-db) on the demo's own database;
# scripts/demo starts `manage.py db_worker` processes. With DEMO_BROKER_URL: Celery on that
# broker; scripts/demo starts `celery -A demo.celery worker --beat`.
DEMO_BROKER_URL = os.environ.get("DEMO_BROKER_URL", "")
DEMO_JOB_RUNNER = "celery" if DEMO_BROKER_URL else "tasks"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

CELERY_BROKER_URL = DEMO_BROKER_URL or "memory://"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_IMPORTS = ["demo.jobs"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {"osis-async-ttl-sweep": ttl_sweep_entry(every=20.0)}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "/static/"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "osis_async": {"handlers": ["console"], "level": "INFO"},
        "demo": {"handlers": ["console"], "level": "INFO"},
    },
}
