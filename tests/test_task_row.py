"""The list's row is defined once (``osis_async.task_row``) and every place that writes or reads it
follows: the serializer and the OpenAPI document, the written-out representation, the list's
JSON on this database (PostgreSQL's page function or SQLite's statement), and the widget's
``Task`` type."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from osis_async.listing import person_page
from osis_async.models import AsyncTask, TaskState
from osis_async.serializers import AsyncTaskSerializer
from osis_async.task_row import ROW, ROW_NAMES, TASK_FIELDS, task_representation

TYPES_TS = Path(__file__).resolve().parent.parent / "frontend" / "src" / "types.ts"

#: What each kind of field is in TypeScript.
TS_TYPES = {
    "uuid": "string",
    "text": "string",
    "state": "TaskState",
    "integer": "number",
    "datetime": "string",
    "flag": "boolean",
}


def test_the_serializer_has_the_rows_fields_in_order() -> None:
    assert tuple(AsyncTaskSerializer().fields) == ROW_NAMES


@pytest.mark.django_db
def test_the_representation_is_the_serializers(user: Any) -> None:
    task = AsyncTask.objects.create(
        name="Row",
        description="All of it",
        person=user,
        state=TaskState.PROCESSING,
        started_at=timezone.now(),
    )
    row = AsyncTask.objects.filter(pk=task.pk).values_list(*TASK_FIELDS).get()
    written = task_representation(row)
    expected = dict(AsyncTaskSerializer(AsyncTask.objects.get(pk=task.pk)).data)
    assert tuple(written) == tuple(expected) == ROW_NAMES
    for field in ROW:
        if field.kind == "datetime" and written[field.name] is not None:
            # The same instant (the list in UTC, DRF in the current time zone).
            assert instant(written[field.name]) == instant(expected[field.name])
        else:
            assert written[field.name] == expected[field.name]


def instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.django_db
def test_the_lists_json_on_this_database_has_the_rows_keys_in_order(user: Any) -> None:
    AsyncTask.objects.create(name="Row", person=user)
    results, _counts, _version = person_page(user, 0, 15)
    # Keys in the order written: PostgreSQL's json_build_object, or Python's dict.
    (item,) = json.loads(results, object_pairs_hook=lambda pairs: pairs)
    assert tuple(key for key, _value in item) == ROW_NAMES


def widget_task_fields() -> dict[str, str]:
    source = TYPES_TS.read_text()
    body = re.search(r"export interface Task \{(.*?)\n\}", source, re.S)
    assert body, "no `export interface Task` in frontend/src/types.ts"
    fields = {}
    for line in body.group(1).strip().splitlines():
        line = line.strip()
        if not line or line.startswith(("//", "/*", "*")):
            continue
        name, type_ = (part.strip() for part in line.split(":", 1))
        fields[name] = type_
    return fields


def test_the_widgets_task_type_has_the_rows_fields_in_order() -> None:
    expected = {
        field.name: TS_TYPES[field.kind] + (" | null" if field.nullable else "") for field in ROW
    }
    found = widget_task_fields()
    assert list(found) == list(expected)
    assert found == expected


@pytest.mark.django_db
def test_the_openapi_document_has_the_rows_fields(user_client: Client) -> None:
    document = user_client.get("/osis_async/schema/?format=json").json()
    task = document["components"]["schemas"]["AsyncTask"]
    assert tuple(task["properties"]) == ROW_NAMES
    nullable = {name for name, spec in task["properties"].items() if spec.get("nullable")}
    assert nullable == {field.name for field in ROW if field.nullable}
