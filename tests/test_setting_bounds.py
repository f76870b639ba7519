"""Numeric settings out of range: ``manage.py check`` reports them, and the commands stop with a
clear ``CommandError`` instead of crashing (issue 9, item 6)."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import override_settings

from osis_async import retention
from osis_async.models import AsyncTask

NAN = float("nan")
INF = float("inf")


def errors() -> dict[str, list[tuple[str, str]]]:
    """``{check id: [(message, hint), ...]}`` of the package's checks."""
    found: dict[str, list[tuple[str, str]]] = {}
    for message in run_checks():
        if message.id and message.id.startswith("osis_async."):
            found.setdefault(message.id, []).append((message.msg, message.hint or ""))
    return found


@pytest.mark.parametrize(
    ("overrides", "check_id", "message"),
    [
        (
            {"OSIS_ASYNC_RETENTION": 10**6},
            "osis_async.E012",
            "OSIS_ASYNC_RETENTION 1000000 is not a whole number of days from 1 to 36,500.",
        ),
        (
            {"OSIS_ASYNC_PENDING_TIMEOUT": 10**12},
            "osis_async.E011",
            "OSIS_ASYNC_PENDING_TIMEOUT 1000000000000 is not a whole number of minutes from 1 to "
            "52,560,000.",
        ),
        (
            {"OSIS_ASYNC_MAX_PAGE_SIZE": 10**6},
            "osis_async.E011",
            "OSIS_ASYNC_MAX_PAGE_SIZE 1000000 is not a whole number of tasks from 1 to 1,000.",
        ),
        (
            {"OSIS_ASYNC_PAGE_SIZE": 2**70, "OSIS_ASYNC_MAX_PAGE_SIZE": 2**70},
            "osis_async.E011",
            "OSIS_ASYNC_PAGE_SIZE 1180591620717411303424 is not a whole number of tasks",
        ),
        (
            {"OSIS_ASYNC_MAX_DESCRIPTION_LENGTH": 0},
            "osis_async.E013",
            "OSIS_ASYNC_MAX_DESCRIPTION_LENGTH 0 is not a whole number of characters from 1 to "
            "1,000,000.",
        ),
        (
            {"OSIS_ASYNC_MAX_DESCRIPTION_LENGTH": "2000"},
            "osis_async.E013",
            "OSIS_ASYNC_MAX_DESCRIPTION_LENGTH '2000' is not a whole number",
        ),
        (
            {"OSIS_ASYNC_MAX_DESCRIPTION_LENGTH": 10**7},
            "osis_async.E013",
            "OSIS_ASYNC_MAX_DESCRIPTION_LENGTH 10000000 is not",
        ),
        (
            {"OSIS_ASYNC_PROGRESS_INTERVAL": NAN},
            "osis_async.E014",
            "OSIS_ASYNC_PROGRESS_INTERVAL nan is not a number of seconds above 0 and at most 3600.",
        ),
        ({"OSIS_ASYNC_PROGRESS_INTERVAL": 0}, "osis_async.E014", "PROGRESS_INTERVAL 0 is not"),
        ({"OSIS_ASYNC_PROGRESS_INTERVAL": "1"}, "osis_async.E014", "PROGRESS_INTERVAL '1' is"),
        (
            {"OSIS_ASYNC_REMOTE_TIMEOUT": INF},
            "osis_async.E014",
            "OSIS_ASYNC_REMOTE_TIMEOUT inf is not a number of seconds above 0 and at most 600.",
        ),
        ({"OSIS_ASYNC_REMOTE_TIMEOUT": 10**400}, "osis_async.E014", "REMOTE_TIMEOUT 1000000"),
        ({"OSIS_ASYNC_REMOTE_TIMEOUT": -1}, "osis_async.E014", "REMOTE_TIMEOUT -1 is not"),
        ({"OSIS_ASYNC_POLL_INTERVAL": NAN}, "osis_async.E024", "POLL_INTERVAL nan is not a"),
        ({"OSIS_ASYNC_STREAM_KEEPALIVE": INF}, "osis_async.E024", "KEEPALIVE inf is not a"),
    ],
)
def test_out_of_range_settings_are_reported(
    overrides: dict[str, Any], check_id: str, message: str
) -> None:
    with override_settings(**overrides):
        found = errors()
    assert check_id in found, found
    assert any(message in text for text, _ in found[check_id]), found[check_id]
    assert all(hint.startswith("Set OSIS_ASYNC_") for _, hint in found[check_id])
    assert all(len(text) < 200 for text, _ in found[check_id])


@pytest.mark.parametrize(
    "overrides",
    [
        {"OSIS_ASYNC_RETENTION": 36_500, "OSIS_ASYNC_PENDING_TIMEOUT": 52_560_000},
        {"OSIS_ASYNC_PAGE_SIZE": 1_000, "OSIS_ASYNC_MAX_PAGE_SIZE": 1_000},
        {"OSIS_ASYNC_MAX_DESCRIPTION_LENGTH": 1_000_000, "OSIS_ASYNC_PROGRESS_INTERVAL": 3600},
        {"OSIS_ASYNC_MAX_DESCRIPTION_LENGTH": 1, "OSIS_ASYNC_REMOTE_TIMEOUT": 0.5},
    ],
)
def test_the_bounds_themselves_pass(overrides: dict[str, Any]) -> None:
    with override_settings(**overrides):
        assert errors() == {}


def test_manage_py_check_fails_on_them() -> None:
    with (
        override_settings(OSIS_ASYNC_RETENTION=10**6, OSIS_ASYNC_PENDING_TIMEOUT=10**12),
        pytest.raises(SystemCheckError) as info,
    ):
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert "osis_async.E011" in str(info.value)
    assert "osis_async.E012" in str(info.value)


@pytest.mark.django_db
@pytest.mark.parametrize("args", [(), ("--dry-run",)])
def test_the_ttl_sweep_stops_with_a_clear_error(
    make_task: Callable[..., AsyncTask], args: tuple[str, ...]
) -> None:
    make_task()
    with override_settings(OSIS_ASYNC_PENDING_TIMEOUT=10**12), pytest.raises(CommandError) as info:
        call_command("check_async_task_ttl", *args, stdout=StringIO())
    assert str(info.value) == (
        "OSIS_ASYNC_PENDING_TIMEOUT 1000000000000 is not a whole number of minutes from 1 to "
        "52,560,000. Fix the setting (see manage.py check)."
    )
    assert AsyncTask.objects.get().state == "PENDING"


@pytest.mark.django_db
@pytest.mark.parametrize("args", [(), ("--dry-run",)])
def test_the_purge_stops_with_a_clear_error(args: tuple[str, ...]) -> None:
    with override_settings(OSIS_ASYNC_RETENTION=10**6), pytest.raises(CommandError) as info:
        call_command("purge_async_tasks", *args, stdout=StringIO())
    assert "OSIS_ASYNC_RETENTION 1000000 is more than 36,500 days (a century)." in str(info.value)
    assert "Fix the setting (see manage.py check) or give --older-than." in str(info.value)


def test_the_purge_cutoff_raises_a_value_error_not_an_overflow() -> None:
    with override_settings(OSIS_ASYNC_RETENTION=10**6), pytest.raises(ValueError, match="more"):
        retention.cutoff()
