"""The test matrix: Python × Django × database, deprecation warnings as errors.

``nox -l`` lists the sessions; ``scripts/test`` runs the ones CI runs.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

DJANGO = {"5.2": "django>=5.2,<5.3", "6.0": "django>=6.0,<6.1", "6.1": "django>=6.1,<6.2"}
MATRIX = [
    ("3.10", "5.2"),
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]
DATABASES = ["sqlite", "postgres"]


def install(session: nox.Session, django: str) -> None:
    session.install(
        "-e", ".[openapi,postgres,celery,redis]", "-r", "requirements/dev.txt", DJANGO[django]
    )
    if django == "5.2":
        session.install(".[tasks]")


@nox.session
@nox.parametrize("python,django", MATRIX, ids=[f"py{p}-dj{d}" for p, d in MATRIX])
@nox.parametrize("db", DATABASES)
def tests(session: nox.Session, django: str, db: str) -> None:
    """The unit and integration suite; add ``-- -m e2e`` style pytest arguments after ``--``."""
    install(session, django)
    env = {"OSIS_ASYNC_TEST_DB": db, "PYTHONWARNINGS": "error::DeprecationWarning"}
    args = session.posargs or ["-m", "not e2e and not broker"]
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--cov",
        "--cov-report=",
        "--cov-append",
        *args,
        env=env,
    )
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--ds=tests.settings_person",
        "--cov",
        "--cov-report=",
        "--cov-append",
        "tests/person_model",
        env=env,
    )


@nox.session(python="3.11")
@nox.parametrize("db", DATABASES)
def integration(session: nox.Session, db: str) -> None:
    """Real Celery workers on RabbitMQ and Redis, and django.tasks workers."""
    install(session, "5.2")
    env = {"OSIS_ASYNC_TEST_DB": db}
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--cov",
        "--cov-report=",
        "--cov-append",
        "-m",
        "broker",
        *session.posargs,
        env=env,
    )


@nox.session(python="3.11")
def e2e(session: nox.Session) -> None:
    """The widget in headless Debian Chromium against the demo pages."""
    install(session, "5.2")
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-m",
        "e2e",
        *session.posargs,
        # PostgreSQL, so the live-update test runs a real ASGI server on the stream.
        env={"OSIS_ASYNC_TEST_DB": "postgres"},
    )


@nox.session(python="3.11")
def first_hour(session: nox.Session) -> None:
    """README.md followed in a new project: the install forms in a fresh venv, then
    startproject, the README's blocks, uvicorn, Chromium and a Celery worker on RabbitMQ."""
    install(session, "5.2")
    session.run(
        "python", "-m", "pytest", "-p", "no:cacheprovider", "-m", "first_hour", *session.posargs
    )


@nox.session(python="3.11")
def coverage(session: nox.Session) -> None:
    """Report the coverage the test sessions gathered, failing under the floor."""
    session.install("coverage[toml]")
    # Code that runs only inside the integration tests' worker processes is not counted.
    session.run("coverage", "report", f"--fail-under={os.environ.get('COVERAGE_FLOOR', '85')}")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff, mypy, migrations in step with the models, compiled translations in step."""
    install(session, "5.2")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": "."}
    session.run("python", "-m", "django", "makemigrations", "--check", "--dry-run", env=env)
    session.run("python", "scripts/check_translations.py", env=env)
