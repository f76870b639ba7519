"""Migrations both ways: the person column's own index, PostgreSQL's list functions, the result
and cancel columns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from osis_async.models import AsyncTask

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = AsyncTask._meta.db_table


def person_only_indexes() -> list[str]:
    """The indexes on the person column alone."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return [
        name
        for name, details in constraints.items()
        if details["index"] and details["columns"] == ["person_id"]
    ]


def page_function_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_proc WHERE proname = 'osis_async_person_page'")
        return cursor.fetchone() is not None


@pytest.fixture
def back_to_0003() -> Iterator[None]:
    call_command("migrate", "osis_async", "0003", verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", "osis_async", verbosity=0)


def test_the_person_column_has_no_index_of_its_own() -> None:
    assert person_only_indexes() == []


def test_0004_reverses_and_reapplies(back_to_0003: None, user: Any) -> None:
    assert len(person_only_indexes()) == 1
    if connection.vendor == "postgresql":
        assert not page_function_exists()
    call_command("migrate", "osis_async", "0004", verbosity=0)
    assert person_only_indexes() == []
    if connection.vendor == "postgresql":
        assert page_function_exists()
    call_command("migrate", "osis_async", verbosity=0)
    AsyncTask.objects.create(name="After", person=user)
    from osis_async.listing import person_page

    results, counts, _version = person_page(user, 0, 15)
    assert counts == {"count": 1, "pending_count": 1}
    assert '"name":"After"' in results.replace(" ", "")


def function_arguments() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, pg_get_function_identity_arguments(oid) FROM pg_proc "
            "WHERE proname LIKE 'osis_async_person_%%'"
        )
        return dict(cursor.fetchall())


@pytest.mark.postgres
def test_0005_reverses_to_the_0004_function_and_reapplies(user: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the list's functions are PostgreSQL's")
    assert set(function_arguments()) == {"osis_async_person_page", "osis_async_person_version"}
    try:
        call_command("migrate", "osis_async", "0004", verbosity=0)
        (arguments,) = function_arguments().values()
        assert arguments.startswith("p_person ")
        assert arguments.endswith(", p_running text[], p_limit bigint, p_offset bigint")
    finally:
        call_command("migrate", "osis_async", verbosity=0)
    AsyncTask.objects.create(name="Again", person=user)
    from osis_async.listing import person_page

    results, counts, _version = person_page(user, 0, 15)
    assert counts == {"count": 1, "pending_count": 1}
    assert '"name":"Again"' in results.replace(" ", "")


@pytest.mark.postgres
def test_0007_adds_nullable_columns_without_a_rewrite_and_reverses() -> None:
    """Nullable columns without a default: a catalogue change, no row rewritten."""
    from io import StringIO

    out = StringIO()
    call_command("sqlmigrate", "osis_async", "0007", stdout=out)
    sql = out.getvalue()
    added = [line for line in sql.splitlines() if "ADD COLUMN" in line]
    assert len(added) == 5
    assert all("NOT NULL" not in line and "DEFAULT" not in line for line in added)
    if connection.vendor != "postgresql":
        return
    try:
        call_command("migrate", "osis_async", "0006", verbosity=0)
        assert function_arguments()["osis_async_person_page"].endswith(
            "p_description_max integer, p_lock_timeout text"
        )
    finally:
        call_command("migrate", "osis_async", verbosity=0)
    assert function_arguments()["osis_async_person_page"].endswith("p_result_path text")


def test_0008_adds_cancel_without_a_rewrite_and_reverses(user: Any) -> None:
    """The state check is added NOT VALID then validated, outside one long transaction; the
    columns are a catalogue change; going back, CANCELLED tasks become ERROR."""
    from io import StringIO

    from django.db.migrations.loader import MigrationLoader
    from django.utils import timezone

    from osis_async.models import TaskState

    migration = MigrationLoader(connection).get_migration("osis_async", "0008_task_cancel")
    assert migration.atomic is False
    out = StringIO()
    call_command("sqlmigrate", "osis_async", "0008", stdout=out)
    sql = out.getvalue()
    added = [line for line in sql.splitlines() if "ADD COLUMN" in line]
    assert any('"cancel_requested_at"' in line and "NOT NULL" not in line for line in added)
    if connection.vendor == "postgresql":  # SQLite rebuilds the table for a column's default
        assert len(added) == 2
        assert any('"runner"' in line and "DEFAULT ''" in line for line in added), added
        assert "NOT VALID" in sql and "VALIDATE CONSTRAINT" in sql

    now = timezone.now()
    task = AsyncTask.objects.create(
        name="Stopped", person=user, state=TaskState.CANCELLED, completed_at=now
    )
    try:
        call_command("migrate", "osis_async", "0007", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT state FROM {TABLE} WHERE id = %s", [task.pk])
            assert cursor.fetchone() == ("ERROR",)
            # The four-state check is back.
            with pytest.raises(IntegrityError), transaction.atomic():
                cursor.execute(f"UPDATE {TABLE} SET state = 'CANCELLED' WHERE id = %s", [task.pk])
        if connection.vendor == "postgresql":
            assert function_arguments()["osis_async_person_page"].endswith("p_result_path text")
    finally:
        call_command("migrate", "osis_async", verbosity=0)
    with connection.cursor() as cursor:
        # Code that does not know the new columns still inserts.
        cursor.execute(
            f"INSERT INTO {TABLE} (uuid, name, description, state, progression, time_to_live, "
            "traceback, created_at, updated_at) VALUES (%s, 'Old code', '', 'PENDING', 0, 5, '', "
            "%s, %s)",
            ["0b5a3c6e9f1d4e2a8b7c6d5e4f3a2b1c", now, now],
        )
    assert AsyncTask.objects.get(name="Old code").runner == ""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT convalidated FROM pg_constraint WHERE conname = 'osis_async_state_valid'"
            )
            assert cursor.fetchone() == (True,)
