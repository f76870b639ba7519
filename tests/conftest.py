from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from osis_async.integrations.tracking import close_connections
from osis_async.models import AsyncTask

collect_ignore_glob: list[str] = []
if os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings") != "tests.settings_person":
    collect_ignore_glob.append("person_model/*")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The ``first_hour`` tests (fresh venvs, pip, a new project: minutes) run only when the
    marker expression names them: ``-m first_hour`` (``nox -s first_hour``)."""
    if "first_hour" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="a first-hour test: run it with -m first_hour")
    for item in items:
        if item.get_closest_marker("first_hour"):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _release_tracking_connections(django_db_setup: None) -> Iterator[None]:
    """The tracking writer thread of this process keeps a connection to the test database
    between writes; let it go before pytest-django drops the database."""
    yield
    close_connections()


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    def make(username: str = "alice", **extra: Any) -> Any:
        return get_user_model().objects.create_user(username=username, password="pw", **extra)

    return make


@pytest.fixture
def user(make_user: Callable[..., Any]) -> Any:
    return make_user("alice", first_name="Alice", last_name="Liddell", email="alice@example.org")


@pytest.fixture
def other_user(make_user: Callable[..., Any]) -> Any:
    return make_user("bob")


@pytest.fixture
def user_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def make_task(db: None) -> Callable[..., AsyncTask]:
    def make(**fields: Any) -> AsyncTask:
        fields.setdefault("name", "Task")
        fields.setdefault("description", "A task")
        return AsyncTask.objects.create(**fields)

    return make


@pytest.fixture
def storage_dir(tmp_path: Path, settings: Any) -> Path:
    """A real FileSystemStorage in a temporary folder, named by OSIS_ASYNC_RESULT_STORAGE."""
    folder = tmp_path / "results"
    settings.STORAGES = {
        **settings.STORAGES,
        "osis_async_results": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder), "base_url": None},
        },
    }
    settings.OSIS_ASYNC_RESULT_STORAGE = "osis_async_results"
    return folder


def stored_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []
