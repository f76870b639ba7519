"""Property-based tests of the input rules (issue 9), on the suite's database (SQLite, or
PostgreSQL with ``OSIS_ASYNC_TEST_DB=postgres``).

For arbitrary text, numbers, datetimes and states, ``update_task`` and
``AsyncTask.objects.create`` either write exactly what they were given or raise
``InvalidTaskUpdate`` and write nothing; never another exception. What they accept also keeps to
the documented rules, so both databases accept the same values.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from osis_async.conf import get_settings
from osis_async.exceptions import InvalidTaskUpdate
from osis_async.models import AsyncTask, TaskState
from osis_async.text import first_unstorable
from osis_async.utils import format_exception, update_task
from osis_async.validation import DATETIME_MAX, DATETIME_MIN, NAME_MAX_LENGTH, TIME_TO_LIVE_MAX

pytestmark = pytest.mark.django_db

UTC = datetime.timezone.utc

PROPERTIES = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- strategies ---------------------------------------------------------------------------------

ODD_CHARACTERS = ["\x00", "\ud800", "\udfff", "\udc80", "é", "\U0001f600", "\n", " ", "\u200b"]
characters = st.one_of(
    st.characters(exclude_categories=[]),  # surrogates included
    st.sampled_from(ODD_CHARACTERS),
)
texts = st.one_of(
    st.text(characters, max_size=30),
    st.text(st.sampled_from("ab \x00"), max_size=5),
    st.builds(
        lambda character, count: character * count,
        characters,
        st.sampled_from([1, 99, 100, 101, 1999, 2000, 2001, 100_000]),
    ),
)
not_texts = st.one_of(st.none(), st.integers(), st.binary(max_size=5), st.floats())
numbers = st.one_of(
    st.integers(min_value=-2, max_value=102),
    st.integers(min_value=TIME_TO_LIVE_MAX - 2, max_value=TIME_TO_LIVE_MAX + 2),
    st.integers(),
    st.sampled_from([TIME_TO_LIVE_MAX, TIME_TO_LIVE_MAX + 1, 2**63, -(2**63) - 1, 10**12, 10**100]),
    st.booleans(),
    st.floats(),
    st.decimals(allow_nan=False, max_value=200, min_value=-200),
    st.text(max_size=3),
)
offsets = st.builds(
    datetime.timezone,
    st.timedeltas(
        min_value=datetime.timedelta(hours=-23, minutes=-59),
        max_value=datetime.timedelta(hours=23, minutes=59),
    ),
)
zones = st.one_of(st.just(UTC), offsets, st.timezones())
recent = st.datetimes(
    min_value=datetime.datetime(2020, 1, 1), max_value=datetime.datetime(2030, 1, 1)
)
datetimes = st.one_of(
    recent.map(lambda moment: moment.replace(tzinfo=UTC)),
    st.datetimes(timezones=zones),  # anything from year 1 to 9999, in any zone
    recent,  # naive
    st.datetimes(),  # naive, any year
    st.sampled_from(
        [
            datetime.datetime.min.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=5))),
            datetime.datetime.max.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
            DATETIME_MIN,
            DATETIME_MAX,
            DATETIME_MIN - datetime.timedelta(microseconds=1),
            DATETIME_MAX + datetime.timedelta(microseconds=1),
        ]
    ),
    st.dates(),
    st.just("2026-03-01T12:00:00Z"),
)
states = st.one_of(
    st.sampled_from(list(TaskState)),
    st.sampled_from(TaskState.names),
    st.sampled_from(["done", "FINISHED", "", "PENDING "]),
    st.text(max_size=12),
    st.integers(),
)
exceptions = st.one_of(
    st.builds(ValueError, st.text(characters, max_size=20)),
    st.builds(KeyError, st.text(characters, max_size=5)),
    st.just("boom"),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def mostly(valid: st.SearchStrategy[Any], junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` three times in four, so that calls with every value valid are common too."""
    return st.integers(0, 3).flatmap(lambda draw: junk if draw == 0 else valid)


storable = st.characters(exclude_categories=["Cs"], exclude_characters=["\x00"])
good_texts = st.text(storable, max_size=40)
good_names = st.text(storable, min_size=1, max_size=NAME_MAX_LENGTH).filter(str.strip)
good_moments = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    recent,
    st.one_of(st.just(UTC), offsets),
)
good_states = st.one_of(st.sampled_from(list(TaskState)), st.sampled_from(TaskState.names))


# --- helpers ----------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    """Each example in its own transaction, undone at its end."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def snapshot(pk: int) -> dict[str, Any]:
    return AsyncTask.objects.filter(pk=pk).values().get()


def same_moment(stored: Any, given: Any) -> bool:
    """``stored`` (read back) is the moment ``given`` was."""
    if not isinstance(stored, datetime.datetime):
        return False
    if timezone.is_aware(given):
        if timezone.is_naive(stored):  # USE_TZ off: stored in local time
            return stored == timezone.make_naive(given, timezone.get_default_timezone())
        return stored.astimezone(UTC) == given.astimezone(UTC)
    return stored == given


def within_range(moment: datetime.datetime) -> bool:
    if timezone.is_naive(moment):  # USE_TZ off: in local time
        moment = moment.replace(tzinfo=timezone.get_default_timezone())
    return DATETIME_MIN <= moment <= DATETIME_MAX


def assert_keeps_the_rules(row: dict[str, Any]) -> None:
    """What any accepted write leaves: the documented rules, the same on every database."""
    assert isinstance(row["name"], str) and row["name"].strip()
    assert len(row["name"]) <= NAME_MAX_LENGTH
    assert len(row["description"]) <= get_settings().MAX_DESCRIPTION_LENGTH
    for field in ("name", "description", "traceback"):
        assert first_unstorable(row[field]) is None, field
    assert row["state"] in TaskState.names
    assert 0 <= row["progression"] <= 100
    assert 0 <= row["time_to_live"] <= TIME_TO_LIVE_MAX
    started, completed = row["started_at"], row["completed_at"]
    for moment in (started, completed):
        assert moment is None or within_range(moment)
    assert (completed is not None) == (row["state"] in TaskState.finished())
    if row["state"] == TaskState.PROCESSING:
        assert started is not None
    if started is not None and completed is not None:
        assert started <= completed


# --- update_task ------------------------------------------------------------------------------

START = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INITIAL_ROWS = [
    {},
    {"state": TaskState.PROCESSING, "started_at": START, "progression": 40},
    {"state": TaskState.DONE, "started_at": START, "completed_at": START, "progression": 100},
]

update_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "progression": mostly(st.integers(0, 100), numbers),
        "description": mostly(good_texts, st.one_of(texts, not_texts)),
        "state": mostly(good_states, states),
        "started_at": mostly(good_moments, datetimes),
        "completed_at": mostly(good_moments, datetimes),
        "exception": mostly(st.builds(ValueError, good_texts), exceptions),
    },
)


def check_update_task(person: Any, initial: dict[str, Any], kwargs: dict[str, Any]) -> None:
    with rolled_back():
        task = AsyncTask.objects.create(name="Task", description="Before", person=person, **initial)
        before = snapshot(task.pk)
        try:
            written = update_task(task.uuid, **kwargs)
        except InvalidTaskUpdate:
            event("refused")
            assert snapshot(task.pk) == before
            return
        event("written" if written else "finished already, or nothing given")
        after = snapshot(task.pk)
        given = {key: value for key, value in kwargs.items() if value is not None}
        if not written:
            assert before["state"] in TaskState.finished() or not given
            assert after == before
            return
        assert before["state"] not in TaskState.finished()
        state = given.get("state")
        if state is not None:
            assert after["state"] == (state if isinstance(state, str) else state.name)
        else:
            assert after["state"] == before["state"]
        if "progression" in given:
            assert after["progression"] == given["progression"]
        elif after["state"] == TaskState.DONE:
            assert after["progression"] == 100
        else:
            assert after["progression"] == before["progression"]
        assert after["description"] == given.get("description", before["description"])
        for field in ("started_at", "completed_at"):
            if field in given:
                assert same_moment(after[field], given[field]), field
        if "exception" in given:
            assert after["traceback"] == format_exception(given["exception"])
        assert after["updated_at"] > before["updated_at"]
        assert_keeps_the_rules(after)


running_rows = st.sampled_from(INITIAL_ROWS[:2])


@PROPERTIES
@given(initial=st.sampled_from(INITIAL_ROWS), kwargs=update_kwargs)
def test_update_task_writes_what_it_is_given_or_refuses(
    user: Any, initial: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    check_update_task(user, initial, kwargs)


@PROPERTIES
@given(
    initial=running_rows,
    kwargs=st.fixed_dictionaries(
        {"description": st.one_of(texts, not_texts, good_texts)},
        optional={"progression": st.integers(0, 100), "exception": exceptions},
    ),
)
def test_update_task_text(user: Any, initial: dict[str, Any], kwargs: dict[str, Any]) -> None:
    check_update_task(user, initial, kwargs)


@PROPERTIES
@given(initial=running_rows, kwargs=st.fixed_dictionaries({"progression": numbers}))
def test_update_task_numbers(user: Any, initial: dict[str, Any], kwargs: dict[str, Any]) -> None:
    check_update_task(user, initial, kwargs)


@PROPERTIES
@given(
    initial=running_rows,
    kwargs=st.fixed_dictionaries(
        {"state": mostly(good_states, states)},
        optional={"started_at": datetimes, "completed_at": datetimes},
    ),
)
def test_update_task_states_and_datetimes(
    user: Any, initial: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    check_update_task(user, initial, kwargs)


@PROPERTIES
@given(
    kwargs=st.fixed_dictionaries(
        {},
        optional={"state": st.sampled_from(list(TaskState)), "started_at": datetimes},
    ).map(lambda kwargs: {**kwargs, "completed_at": None}),
)
def test_update_task_datetimes_without_use_tz(user: Any, kwargs: dict[str, Any]) -> None:
    with override_settings(USE_TZ=False):
        check_update_task(user, {}, kwargs)


# --- AsyncTask.objects.create -------------------------------------------------------------------

create_kwargs = st.fixed_dictionaries(
    {"name": mostly(good_names, st.one_of(texts, not_texts))},
    optional={
        "description": mostly(good_texts, st.one_of(texts, not_texts)),
        "state": mostly(good_states, states),
        "progression": mostly(st.integers(0, 100), numbers),
        "time_to_live": mostly(st.integers(0, TIME_TO_LIVE_MAX), numbers),
        "started_at": maybe(mostly(good_moments, datetimes)),
        "completed_at": maybe(mostly(good_moments, datetimes)),
        "traceback": mostly(good_texts, st.one_of(texts, not_texts)),
        "uuid": mostly(st.one_of(st.uuids(), st.uuids().map(str)), st.text(max_size=5)),
    },
)


@PROPERTIES
@given(kwargs=create_kwargs, with_person=st.booleans())
def test_create_writes_what_it_is_given_or_refuses(
    user: Any, kwargs: dict[str, Any], with_person: bool
) -> None:
    check_create(user if with_person else None, kwargs)


def check_create(person: Any, kwargs: dict[str, Any]) -> None:
    with rolled_back():
        before = AsyncTask.objects.count()
        try:
            task = AsyncTask.objects.create(person=person, **kwargs)
        except InvalidTaskUpdate:
            event("refused")
            assert AsyncTask.objects.count() == before
            return
        event("created")
        row = snapshot(task.pk)
        defaults = {"description": "", "progression": 0, "time_to_live": 5, "traceback": ""}
        for field in ("name", "description", "progression", "time_to_live", "traceback"):
            assert row[field] == kwargs.get(field, defaults.get(field)), field
        state = kwargs.get("state", TaskState.PENDING)
        assert row["state"] == (state if isinstance(state, str) else state.name)
        for field in ("started_at", "completed_at"):
            if kwargs.get(field) is None:
                assert row[field] is None
            else:
                assert same_moment(row[field], kwargs[field]), field
        if "uuid" in kwargs:
            assert row["uuid"] == uuid.UUID(str(kwargs["uuid"]))
        assert row["person_id"] == (None if person is None else person.pk)
        assert_keeps_the_rules(row)


@PROPERTIES
@given(
    kwargs=st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(texts, not_texts, good_names),
            "description": st.one_of(texts, not_texts),
            "traceback": st.one_of(texts, not_texts),
        },
    )
)
def test_create_text(user: Any, kwargs: dict[str, Any]) -> None:
    check_create(user, {"name": "Export", **kwargs})


@PROPERTIES
@given(field=st.sampled_from(["progression", "time_to_live", "state"]), value=numbers | states)
def test_create_numbers_and_states(user: Any, field: str, value: Any) -> None:
    check_create(user, {"name": "Export", field: value})


@PROPERTIES
@given(
    kwargs=st.fixed_dictionaries(
        {"state": good_states},
        optional={"started_at": datetimes, "completed_at": datetimes},
    )
)
def test_create_datetimes(user: Any, kwargs: dict[str, Any]) -> None:
    check_create(user, {"name": "Export", **kwargs})


@pytest.fixture
def user(db: None) -> Any:
    return get_user_model().objects.create(username="property-tester")
