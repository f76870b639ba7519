from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
URL = "/osis_async/tasks/"
TASK_KEYS = {
    "uuid",
    "name",
    "description",
    "state",
    "progression",
    "created_at",
    "started_at",
    "completed_at",
    # The contract's keys, and the outcome's (issue 12).
    "result_url",
    "result_label",
    "error_message",
    # Cancel: the person asked to stop it and its job has not stopped yet.
    "cancel_requested",
}


def get(client: Client, query: str = "") -> Any:
    response = client.get(URL + query, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_reverse_name() -> None:
    assert reverse("osis_async:task-list") == URL


def test_contract_body(user_client: Client, user: Any, make_task: Callable[..., AsyncTask]) -> None:
    done = make_task(person=user, name="Export", description="Students")
    update_task(done.uuid, state=TaskState.DONE)
    running = make_task(person=user, name="Report")
    update_task(running.uuid, state=TaskState.PROCESSING, progression=42)
    make_task(person=user, name="Import")

    body = get(user_client)
    assert set(body) == {"count", "pending_count", "next", "previous", "results"}
    assert (body["count"], body["pending_count"], body["next"], body["previous"]) == (
        3,
        2,
        None,
        None,
    )
    assert [task["name"] for task in body["results"]] == ["Import", "Report", "Export"]
    report = body["results"][1]
    assert set(report) == TASK_KEYS
    assert report["uuid"] == str(running.uuid)
    assert (report["state"], report["progression"]) == ("PROCESSING", 42)
    assert report["completed_at"] is None
    assert body["results"][2]["state"] == "DONE"


def test_timestamps_are_iso_8601_with_offset(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(person=user)
    update_task(task.uuid, state=TaskState.PROCESSING)
    result = get(user_client)["results"][0]
    for key in ("created_at", "started_at"):
        parsed = datetime.datetime.fromisoformat(result[key].replace("Z", "+00:00"))
        assert parsed.utcoffset() is not None, result[key]


def test_only_the_requesting_persons_tasks(
    user_client: Client, user: Any, other_user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    mine = make_task(person=user, name="mine")
    theirs = make_task(person=other_user, name="theirs")
    make_task(person=None, name="nobody's")
    update_task(theirs.uuid, state=TaskState.PROCESSING)
    body = get(user_client)
    assert [task["uuid"] for task in body["results"]] == [str(mine.uuid)]
    assert (body["count"], body["pending_count"]) == (1, 1)


def test_anonymous_gets_json_401_or_403_never_a_redirect(
    make_task: Callable[..., AsyncTask],
) -> None:
    make_task()
    response = Client().get(URL, HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


def test_basic_authentication_from_project_defaults_still_works(
    user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    import base64

    make_task(person=user)
    token = base64.b64encode(b"alice:pw").decode()
    response = Client().get(URL, HTTP_AUTHORIZATION=f"Basic {token}")
    assert response.status_code == 200
    assert response.json()["count"] == 1


@override_settings(
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"]
    }
)
def test_session_authentication_works_beside_other_project_classes(user_client: Client) -> None:
    from rest_framework.settings import api_settings

    api_settings.reload()
    try:
        assert get(user_client)["count"] == 0
        anonymous = Client().get(URL)
        assert anonymous.status_code == 401
        assert anonymous["WWW-Authenticate"] == "Token"
    finally:
        api_settings.reload()


def test_default_page_size_is_15_without_drf_page_size(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    for index in range(20):
        make_task(person=user, name=f"t{index}")
    body = get(user_client)
    assert len(body["results"]) == 15
    assert body["count"] == 20
    assert body["next"] == "http://testserver/osis_async/tasks/?limit=15&offset=15"
    second = get(user_client, "?limit=15&offset=15")
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert second["previous"] == "http://testserver/osis_async/tasks/?limit=15"
    assert {task["name"] for task in body["results"] + second["results"]} == {
        f"t{index}" for index in range(20)
    }


@override_settings(OSIS_ASYNC_PAGE_SIZE=4, OSIS_ASYNC_MAX_PAGE_SIZE=6)
def test_page_size_and_maximum_are_settings(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    for index in range(10):
        make_task(person=user, name=f"t{index}")
    assert len(get(user_client)["results"]) == 4
    assert len(get(user_client, "?limit=100000000")["results"]) == 6


@pytest.mark.parametrize(
    ("query", "expected_count"),
    [
        ("?limit=abc", 15),
        ("?limit=-3", 15),
        ("?limit=0", 15),
        ("?limit=%C2%B2", 15),
        ("?limit=3.5", 15),
        ("?limit=100000000", 100),
        ("?limit=99999999999999999999999999999", 100),
        ("?limit=" + "9" * 5000, 100),
        ("?offset=abc", 15),
        ("?offset=-1", 15),
        ("?offset=99999999999999999999999999999", 0),
        ("?offset=9223372036854775807", 0),
        ("?offset=" + "9" * 5000, 0),
        ("?limit=5&offset=118", 2),
    ],
)
def test_odd_limits_and_offsets_never_fail(
    user_client: Client, user: Any, query: str, expected_count: int
) -> None:
    AsyncTask.objects.bulk_create(
        [AsyncTask(name=f"t{index}", person=user) for index in range(120)]
    )
    body = get(user_client, query)
    assert len(body["results"]) == expected_count
    assert body["count"] == 120


def test_huge_limit_reads_no_more_than_the_maximum(user_client: Client, user: Any) -> None:
    AsyncTask.objects.bulk_create(
        [AsyncTask(name=f"t{index}", person=user) for index in range(150)]
    )
    with CaptureQueriesContext(connection) as captured:
        body = get(user_client, "?limit=100000000")
    assert len(body["results"]) == 100
    # The database is asked for 100 rows: PostgreSQL's page function takes the limit third
    # (and the offset fourth).
    page_sql = [q["sql"] for q in captured.captured_queries if "asynctask" in q["sql"]]
    page_sql += [q["sql"] for q in captured.captured_queries if "person_page" in q["sql"]]
    assert any(
        "LIMIT 100 " in sql or re.search(r"person_page\(\S+, \S+, 100, 0[,)]", sql)
        for sql in page_sql
    ), page_sql


@pytest.mark.parametrize("task_count", [0, 3, 40])
def test_at_most_two_queries_of_its_own(
    user_client: Client, user: Any, other_user: Any, task_count: int
) -> None:
    AsyncTask.objects.bulk_create(
        [AsyncTask(name=f"t{index}", person=user) for index in range(task_count)]
        + [AsyncTask(name="other", person=other_user)]
    )
    with CaptureQueriesContext(connection) as captured:
        get(user_client)
    # The task table, or on PostgreSQL the page function reading it.
    own = [q["sql"] for q in captured.captured_queries if "osis_async_" in q["sql"]]
    assert 1 <= len(own) <= 2, own
    # The session and the user: Django's authentication, not the endpoint's.
    assert len(captured.captured_queries) - len(own) <= 2


def test_markup_is_returned_as_plain_json_text(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    make_task(person=user, name=payload[:100], description=payload)
    response = user_client.get(URL)
    assert response["Content-Type"] == "application/json"
    assert response.json()["results"][0]["description"] == payload


def test_list_never_exposes_the_traceback(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(person=user)
    update_task(task.uuid, state=TaskState.ERROR, exception=ValueError("secret path /srv/x"))
    assert "secret" not in user_client.get(URL).content.decode()


@pytest.mark.parametrize(
    "rest_framework",
    [
        {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"},
        {},  # DRF's defaults: the app's views name their inspector themselves
        {"DEFAULT_SCHEMA_CLASS": "rest_framework.schemas.openapi.AutoSchema"},
    ],
    ids=["spectacular-default", "drf-defaults", "drf-openapi-default"],
)
def test_openapi_document_whatever_the_default_schema_class(
    user_client: Client, rest_framework: dict[str, str]
) -> None:
    with override_settings(REST_FRAMEWORK=rest_framework):
        response = user_client.get(
            "/osis_async/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
        )
    assert response.status_code == 200, response.content[:2000]
    operation = response.json()["paths"]["/osis_async/tasks/"]["get"]
    assert operation["operationId"] == "osis_async_task_list"
    assert {p["name"] for p in operation["parameters"]} >= {"limit", "offset"}
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AsyncTaskPage"}


#: A fresh process on the suite's settings less ``REST_FRAMEWORK``: the app's modules are first
#: imported under DRF's defaults, as on a site that never set ``DEFAULT_SCHEMA_CLASS``.
SCHEMA_UNDER_DRF_DEFAULTS = """
import json, django
from django.conf import settings
django.setup()
from django.test import Client
assert not hasattr(settings, "REST_FRAMEWORK")
response = Client().get("/osis_async/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
assert response.status_code == 200, response.content[-3000:]
print(json.dumps(response.json()["paths"]["/osis_async/tasks/"]["get"]["operationId"]))
"""


def test_openapi_document_in_a_site_with_drf_defaults(tmp_path: Path) -> None:
    (tmp_path / "drf_defaults_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\ndel REST_FRAMEWORK  # noqa: F821\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    env["DJANGO_SETTINGS_MODULE"] = "drf_defaults_settings"
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT), str(ROOT / "src")])
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCHEMA_UNDER_DRF_DEFAULTS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == '"osis_async_task_list"'


def test_openapi_states_match_the_enum(user_client: Client) -> None:
    response = user_client.get(
        "/osis_async/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert response.status_code == 200
    schema = response.json()
    task_schema = schema["components"]["schemas"]["AsyncTask"]
    state = task_schema["properties"]["state"]
    if "$ref" in state or "allOf" in state:
        ref = (state.get("$ref") or state["allOf"][0]["$ref"]).rsplit("/", 1)[-1]
        state = schema["components"]["schemas"][ref]
    assert state["enum"] == [member.name for member in TaskState]
    page = schema["components"]["schemas"]["AsyncTaskPage"]
    assert {"count", "pending_count", "next", "previous", "results"} <= set(page["properties"])
    operation = schema["paths"]["/osis_async/tasks/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"limit", "offset"}


@pytest.mark.parametrize("use_tz", [True, False])
def test_written_out_representation_matches_the_serializer(
    user: Any, make_task: Callable[..., AsyncTask], use_tz: bool
) -> None:
    from osis_async.listing import person_page
    from osis_async.serializers import AsyncTaskSerializer

    with override_settings(USE_TZ=use_tz):
        task = make_task(person=user, name="n", description="d <b>")
        update_task(task.uuid, state=TaskState.PROCESSING, progression=3)
        (written,) = json.loads(person_page(user, 0, 1)[0])
        expected = dict(AsyncTaskSerializer(AsyncTask.objects.get(pk=task.pk)).data)
    for key in ("created_at", "started_at"):
        # The same instant; the endpoint always states the offset (DRF omits it when naive).
        moment = datetime.datetime.fromisoformat(written.pop(key).replace("Z", "+00:00"))
        drf = datetime.datetime.fromisoformat(expected.pop(key).replace("Z", "+00:00"))
        assert moment.utcoffset() is not None
        assert moment == (drf if use_tz else timezone.make_aware(drf))
    assert written == expected


def test_page_past_the_end_still_counts(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    for _ in range(3):
        make_task(person=user)
    body = get(user_client, "?offset=5")
    assert (body["count"], body["results"], body["next"]) == (3, [], None)
    assert body["previous"] == "http://testserver/osis_async/tasks/?limit=15"


def test_any_text_comes_back_exactly_as_written(
    user_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    # What the database (PostgreSQL) or Python (elsewhere) writes as JSON must parse back to
    # the very text a task was given, whatever it holds.
    name = 'quote " back\\slash \t tab'
    description = "line\nbreak, \x01 control, é ü 漢字 🎓, \u2028 and \u2029, </script>"
    make_task(person=user, name=name, description=description)
    response = user_client.get(URL)
    (result,) = response.json()["results"]
    assert (result["name"], result["description"]) == (name, description)
    # Line and paragraph separators are escaped, as DRF's renderer does.
    assert "\u2028".encode() not in response.content
    assert b"\\u2028" in response.content and b"\\u2029" in response.content
