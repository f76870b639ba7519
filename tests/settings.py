"""Settings for the test suite. ``OSIS_ASYNC_TEST_DB=postgres`` runs it on PostgreSQL."""

import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "osis-async-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TIME_ZONE = "Europe/Brussels"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
USE_I18N = True


def postgres_database(name: str) -> dict[str, object]:
    """PostgreSQL at ``PGHOST``/``PGPORT`` as ``PGUSER`` (127.0.0.1:5432, postgres)."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "NAME": name,
    }


if os.environ.get("OSIS_ASYNC_TEST_DB", "sqlite") == "postgres":
    # A worker process started by the integration tests sets OSIS_ASYNC_TEST_DB_NAME to the test
    # database pytest-django created ("test_test"), to share it.
    DATABASES = {
        "default": postgres_database(
            os.environ.get("OSIS_ASYNC_TEST_DB_NAME") or os.environ.get("PGDATABASE", "test")
        )
    }
else:
    # A file, not ":memory:": Django's in-memory test database is one shared cache, where a
    # writer meets a concurrent reader (the stream's database thread) with an immediate "table is
    # locked" instead of waiting as it does on a file, which is what sites run.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "TEST": {
                "NAME": os.path.join(
                    tempfile.gettempdir(), f"osis_async_tests_{os.getpid()}.sqlite3"
                )
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
    "drf_spectacular",
    "rest_framework.authtoken",
    "osis_async",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "e2e" / "templates"],
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

REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
