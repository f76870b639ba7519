from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from osis_async.conf import get_settings


def errors() -> dict[str, str]:
    return {m.id: m.msg for m in run_checks() if m.id and m.id.startswith("osis_async.")}


def test_default_settings_pass() -> None:
    assert errors() == {}


@pytest.mark.parametrize(
    ("overrides", "check_id", "fragment"),
    [
        ({"OSIS_ASYNC_PERSON_MODEL": "Person"}, "osis_async.E001", "'Person' is not of the form"),
        ({"OSIS_ASYNC_PERSON_MODEL": "base.Person"}, "osis_async.E002", "'base.Person' names no"),
        ({"OSIS_ASYNC_PERSON_GETTER": "nowhere.get"}, "osis_async.E003", "'nowhere.get' cannot"),
        ({"OSIS_ASYNC_PERSON_GETTER": "osis_async.__version__"}, "osis_async.E003", "not callable"),
        (
            {"OSIS_ASYNC_PAGE_SIZE": 0},
            "osis_async.E004",
            "OSIS_ASYNC_PAGE_SIZE 0 is not a positive",
        ),
        ({"OSIS_ASYNC_MAX_PAGE_SIZE": "100"}, "osis_async.E004", "MAX_PAGE_SIZE '100'"),
        ({"OSIS_ASYNC_PENDING_TIMEOUT": True}, "osis_async.E004", "PENDING_TIMEOUT True"),
        (
            {"OSIS_ASYNC_PAGE_SIZE": 50, "OSIS_ASYNC_MAX_PAGE_SIZE": 20},
            "osis_async.E005",
            "50 is larger",
        ),
        (
            {"OSIS_ASYNC_BASE_URL": "ftp://x/", "OSIS_ASYNC_API_AUTHORIZATION": "s"},
            "osis_async.E006",
            "'ftp://x/' is not an http(s) URL",
        ),
        (
            {
                "OSIS_ASYNC_BASE_URL": "https://api.example.org/async",
                "OSIS_ASYNC_API_AUTHORIZATION": "s",
            },
            "osis_async.E007",
            "does not end with '/'",
        ),
        (
            {"OSIS_ASYNC_DOMAIN_LIST": ["https://a.example.org/"]},
            "osis_async.E008",
            "is not an origin",
        ),
        (
            {"OSIS_ASYNC_BASE_URL": "https://api.example.org/"},
            "osis_async.E009",
            "AUTHORIZATION is empty",
        ),
        ({"OSIS_ASYNC_CHANGE_SOURCE": "kafka"}, "osis_async.E020", "'kafka' is not one of auto"),
        ({"OSIS_ASYNC_CHANGE_SOURCE": "redis"}, "osis_async.E021", "REDIS_URL is empty"),
        ({"OSIS_ASYNC_POLL_INTERVAL": 0}, "osis_async.E024", "POLL_INTERVAL 0 is not a positive"),
        ({"OSIS_ASYNC_STREAM_MAX_AGE": "5"}, "osis_async.E024", "STREAM_MAX_AGE '5'"),
    ],
)
def test_misconfiguration_is_reported(
    overrides: dict[str, Any], check_id: str, fragment: str
) -> None:
    with override_settings(**overrides):
        found = errors()
    assert check_id in found, found
    assert fragment in found[check_id]


def test_getter_is_cached_and_refreshed_on_setting_changed() -> None:
    assert get_settings() is get_settings()
    assert get_settings().PAGE_SIZE == 15
    with override_settings(OSIS_ASYNC_PAGE_SIZE=7, OSIS_ASYNC_DOMAIN_LIST=["https://a.org"]):
        assert get_settings().PAGE_SIZE == 7
        assert get_settings().DOMAIN_LIST == ("https://a.org",)
    assert get_settings().PAGE_SIZE == 15


def test_person_model_defaults_to_the_user_model() -> None:
    assert get_settings().PERSON_MODEL == "auth.User"


def test_postgres_source_needs_postgresql() -> None:
    from django.db import connection

    with override_settings(OSIS_ASYNC_CHANGE_SOURCE="postgres"):
        found = errors()
    if connection.vendor == "postgresql":
        assert "osis_async.E023" not in found
    else:
        assert f"the database is {connection.vendor!r}" in found["osis_async.E023"]
