from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client, RequestFactory

from osis_async import admin as task_admin
from osis_async.models import AsyncTask, TaskState
from osis_async.utils import update_task

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/osis_async/asynctask/"
ADMIN_CSS = Path(task_admin.__file__).parent / "static" / "osis_async" / "admin.css"


@pytest.fixture
def admin_client() -> Client:
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client = Client()
    client.force_login(admin)
    return client


def test_changelist_shows_progress_and_filters_by_state(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    running = make_task(name="Running export")
    update_task(running.uuid, state=TaskState.PROCESSING, progression=37)
    make_task(name="Queued report")
    page = admin_client.get(CHANGELIST).content.decode()
    assert '<progress max="100" value="37"' in page
    assert "Running export" in page and "Queued report" in page
    filtered = admin_client.get(CHANGELIST, {"state__exact": "PROCESSING"}).content.decode()
    assert "Running export" in filtered and "Queued report" not in filtered


def test_search_by_name_and_uuid(admin_client: Client, make_task: Callable[..., AsyncTask]) -> None:
    wanted = make_task(name="Grades import")
    make_task(name="Yearly report")
    by_name = admin_client.get(CHANGELIST, {"q": "grades"}).content.decode()
    assert "Grades import" in by_name and "Yearly report" not in by_name
    by_uuid = admin_client.get(CHANGELIST, {"q": str(wanted.uuid)}).content.decode()
    assert "Grades import" in by_uuid and "Yearly report" not in by_uuid
    assert admin_client.get(CHANGELIST, {"q": "not-a-uuid"}).status_code == 200


def test_change_page_is_read_only_and_shows_the_traceback(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(name="<b>bold</b>")
    update_task(task.uuid, state=TaskState.ERROR, exception=ValueError("<script>x</script>"))
    page = admin_client.get(f"{CHANGELIST}{task.pk}/change/").content.decode()
    assert "ValueError: &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page
    assert 'name="traceback"' not in page and 'name="state"' not in page
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def nested_failure(depth: int) -> None:
    if depth == 0:
        raise ValueError("<script>x</script> & co")
    nested_failure(depth - 1)


def test_the_traceback_is_preformatted_keeping_its_indentation(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task()
    try:
        nested_failure(2)
    except ValueError as error:
        update_task(task.uuid, state=TaskState.ERROR, exception=error)
    traceback = AsyncTask.objects.get(pk=task.pk).traceback
    page = admin_client.get(f"{CHANGELIST}{task.pk}/change/").content.decode()
    (block,) = re.findall(r'<pre class="osis-async-traceback">(.*?)</pre>', page, re.S)
    assert block.startswith("Traceback (most recent call last):\n  File "), block
    assert "\n    nested_failure(depth - 1)\n" in block, "the code lines keep their indent"
    assert block.endswith("ValueError: &lt;script&gt;x&lt;/script&gt; &amp; co\n")
    assert block == html.escape(traceback), "all of it, escaped: nothing a task writes is HTML"
    assert re.search(
        r"pre\.osis-async-traceback \{[^}]*font-family: var\(--font-family-monospace",
        ADMIN_CSS.read_text(),
    )
    assert 'href="/static/osis_async/admin.css"' in page


def test_a_task_without_traceback_shows_the_empty_value(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task()
    page = admin_client.get(f"{CHANGELIST}{task.pk}/change/").content.decode()
    assert re.search(r'<label>Traceback:</label>\s*<div class="readonly">-</div>', page), page


def test_a_task_page_has_no_save_buttons_and_refuses_a_post(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task(name="Untouched")
    url = f"{CHANGELIST}{task.pk}/change/"
    page = admin_client.get(url).content.decode()
    for button in ('name="_save"', 'name="_continue"', 'name="_addanother"', 'name="_saveasnew"'):
        assert button not in page
    assert ">Close</a>" in page, "the view-only page's way back"
    assert "/delete/" in page, "deleting a task stays possible"
    response = admin_client.post(url, {"name": "Edited", "state": "DONE"})
    assert response.status_code == 403
    assert AsyncTask.objects.get(pk=task.pk).name == "Untouched"


def test_action_marks_running_tasks_as_errored(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    running = make_task(name="running")
    update_task(running.uuid, state=TaskState.PROCESSING)
    done = make_task(name="done")
    update_task(done.uuid, state=TaskState.DONE)
    response = admin_client.post(
        CHANGELIST,
        {"action": "mark_errored", "_selected_action": [running.pk, done.pk]},
        follow=True,
    )
    assert "1 running task marked as errored." in response.content.decode()
    states = dict(AsyncTask.objects.values_list("name", "state"))
    assert states == {"running": "ERROR", "done": "DONE"}
    assert AsyncTask.objects.get(pk=running.pk).completed_at is not None
    # The job is not stopped: what it writes later is ignored, finished being final.
    assert update_task(running.uuid, progression=90) is False
    assert update_task(running.uuid, state=TaskState.DONE) is False
    marked = AsyncTask.objects.get(pk=running.pk)
    assert (marked.state, marked.traceback) == (TaskState.ERROR, task_admin.ADMIN_ERROR_MESSAGE)


def test_admin_for_person_list(
    admin_client: Client, user: Any, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(person=user, name="owned")
    assert "alice" in admin_client.get(CHANGELIST).content.decode()


# --- the list: the short uuid, the bar's colour, the action's permission ---------------------


def test_the_uuid_is_shown_short_on_one_line_linking_to_the_task(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    task = make_task()
    page = admin_client.get(CHANGELIST).content.decode()
    cell = re.search(r'<th class="field-short_uuid">(.*?)</th>', page, re.S)
    assert cell is not None, page
    assert cell.group(1) == (
        f'<a href="{CHANGELIST}{task.pk}/change/">'
        f'<span class="osis-async-uuid" title="{task.uuid}">{task.uuid.hex[:8]}</span></a>'
    )
    css = ADMIN_CSS.read_text()
    assert re.search(r"#result_list \.field-short_uuid,[^{]*\{\s*white-space: nowrap;", css)


@pytest.mark.parametrize(
    ("state", "colour"),
    [
        (TaskState.ERROR, "#ba2121"),  # red
        (TaskState.DONE, "#2e7d32"),  # green
        (TaskState.PROCESSING, "#417690"),  # the admin's blue
    ],
)
def test_the_bar_is_coloured_by_state(
    admin_client: Client, make_task: Callable[..., AsyncTask], state: TaskState, colour: str
) -> None:
    task = make_task()
    update_task(task.uuid, state=TaskState.PROCESSING, progression=60)
    if state != TaskState.PROCESSING:
        update_task(task.uuid, state=state)
    page = admin_client.get(CHANGELIST).content.decode()
    css_class = f"osis-async-progress-{state.name.lower()}"
    assert f'class="osis-async-progress {css_class}"' in page
    css = ADMIN_CSS.read_text()
    selector = (
        f"progress.{css_class}::-webkit-progress-value"
        if state != TaskState.PROCESSING
        else "progress.osis-async-progress::-webkit-progress-value"
    )
    assert re.search(re.escape(selector) + r" \{\s*background: " + colour + ";", css), selector


@pytest.fixture
def staff_client() -> Callable[..., Client]:
    def make(*codenames: str) -> Client:
        staff = get_user_model().objects.create_user(
            "staff-" + "-".join(codenames), password="pw", is_staff=True
        )
        staff.user_permissions.set(
            Permission.objects.filter(content_type__app_label="osis_async", codename__in=codenames)
        )
        client = Client()
        client.force_login(staff)
        return client

    return make


def test_the_action_needs_the_change_permission(
    staff_client: Callable[..., Client], make_task: Callable[..., AsyncTask]
) -> None:
    running = make_task(name="running")
    update_task(running.uuid, state=TaskState.PROCESSING)
    viewer = staff_client("view_asynctask")
    assert "mark_errored" not in viewer.get(CHANGELIST).content.decode()
    viewer.post(CHANGELIST, {"action": "mark_errored", "_selected_action": [running.pk]})
    assert AsyncTask.objects.get(pk=running.pk).state == TaskState.PROCESSING
    assert viewer.get(f"{CHANGELIST}{running.pk}/change/").status_code == 200

    changer = staff_client("change_asynctask")
    assert "mark_errored" in changer.get(CHANGELIST).content.decode()
    page = changer.get(f"{CHANGELIST}{running.pk}/change/").content.decode()
    assert 'name="_save"' not in page, "view-only for those who may change tasks too"
    changer.post(CHANGELIST, {"action": "mark_errored", "_selected_action": [running.pk]})
    assert AsyncTask.objects.get(pk=running.pk).state == TaskState.ERROR


# --- search by the start of a uuid --------------------------------------------------------------

WANTED = uuid.UUID("1a2b3c4d-5e6f-4a0b-8c1d-2e3f4a5b6c7d")
NEIGHBOUR = uuid.UUID("1a2b3c4e-0000-4000-8000-000000000000")


def names_found(client: Client, term: str) -> set[str]:
    page = client.get(CHANGELIST, {"q": term}).content.decode()
    return set(re.findall(r'<td class="field-name">(.*?)</td>', page))


@pytest.mark.parametrize(
    "term",
    [
        "1a2b3c4d",  # what the list shows
        "1A2B3C4D",
        " 1a2b3c4d ",
        "1a2b3c4d-5e6f",  # with the dash
        "1a2b3c4d5e6f",  # or without
        "1a2b3c4d-5e6f-4a0b-8c1d-2e3f4a5b6c7d",  # the whole uuid
        "1a2b3c4d5e6f4a0b8c1d2e3f4a5b6c7d",
    ],
)
def test_search_by_the_start_of_a_uuid(
    admin_client: Client, make_task: Callable[..., AsyncTask], term: str
) -> None:
    make_task(name="Wanted", uuid=WANTED)
    make_task(name="Neighbour", uuid=NEIGHBOUR)
    make_task(name="Other")
    assert names_found(admin_client, term) == {"Wanted"}


def test_a_prefix_finds_every_task_starting_with_it(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(name="Wanted", uuid=WANTED)
    make_task(name="Neighbour", uuid=NEIGHBOUR)
    make_task(name="Other", uuid=uuid.UUID("1a2b3c50-0000-4000-8000-000000000000"))
    assert names_found(admin_client, "1a2b3c4") == set(), "under 8 digits: names only"
    assert names_found(admin_client, "1a2b3c4d") == {"Wanted"}
    assert names_found(admin_client, "1a2b3c4e") == {"Neighbour"}
    assert names_found(admin_client, "1a2b3c4f") == set()


def test_a_hex_term_no_uuid_starts_with_is_searched_in_names(
    admin_client: Client, make_task: Callable[..., AsyncTask]
) -> None:
    make_task(name="Export 20260115", uuid=uuid.UUID("00000000-0000-4000-8000-000000000001"))
    make_task(name="Report 2024")
    make_task(name="Other", uuid=WANTED)
    assert names_found(admin_client, "20260115") == {"Export 20260115"}
    assert names_found(admin_client, "2024") == {"Report 2024"}
    assert names_found(admin_client, "report") == {"Report 2024"}
    assert names_found(admin_client, "1a2b3c4d-zz") == set()
    assert names_found(admin_client, "not-a-uuid") == set()


@pytest.mark.parametrize(
    ("term", "bounds"),
    [
        (
            "1a2b3c4d",
            ("1a2b3c4d-0000-0000-0000-000000000000", "1a2b3c4d-ffff-ffff-ffff-ffffffffffff"),
        ),
        (
            "1A2B3C4D-5E",
            ("1a2b3c4d-5e00-0000-0000-000000000000", "1a2b3c4d-5eff-ffff-ffff-ffffffffffff"),
        ),
        (str(WANTED), (str(WANTED), str(WANTED))),
        ("1a2b3c4", None),
        ("1a2b3c4g", None),
        ("1a2b3c4d" * 5, None),
        ("", None),
        ("--------", None),
    ],
)
def test_uuid_prefix_range(term: str, bounds: tuple[str, str] | None) -> None:
    found = task_admin.uuid_prefix_range(term)
    assert (None if found is None else (str(found[0]), str(found[1]))) == bounds


def test_the_uuid_index_serves_the_prefix_search(admin_client: Client) -> None:
    """``uuid BETWEEN lower AND upper`` is a range of the uuid's unique index: PostgreSQL's
    planner picks it on a table of 20,000 tasks, SQLite searches it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """
                INSERT INTO osis_async_asynctask (uuid, name, description, state, progression,
                    time_to_live, traceback, created_at, updated_at)
                SELECT gen_random_uuid(), 'Task ' || n, '', 'DONE', 100, 5, '', now(), now()
                FROM generate_series(1, 20000) AS n
                """
            )
            cursor.execute("ANALYZE osis_async_asynctask")
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'osis_async_asynctask' "
                "AND indexdef LIKE 'CREATE UNIQUE INDEX % (uuid)'"
            )
            (index_name,) = cursor.fetchone()
        else:
            AsyncTask.objects.bulk_create(AsyncTask(name=f"Task {n}") for n in range(200))
            index_name = ""
    wanted = AsyncTask.objects.order_by("?").values_list("uuid", flat=True).first()
    assert wanted is not None
    model_admin = site._registry[AsyncTask]
    request = RequestFactory().get(CHANGELIST, {"q": wanted.hex[:8]})
    queryset, _ = model_admin.get_search_results(
        request, model_admin.get_queryset(request), wanted.hex[:8]
    )
    plan = queryset.order_by("-created_at", "-id")[:100].explain()
    if connection.vendor == "postgresql":
        assert index_name in plan and "Index Scan" in plan, plan  # or "Bitmap Index Scan"
        assert "Seq Scan" not in plan, plan
    else:
        assert re.search(r"SEARCH \S*asynctask USING INDEX \S+ \(uuid>\? AND uuid<\?\)", plan), plan
    assert wanted in set(queryset.values_list("uuid", flat=True))
    assert names_found(admin_client, wanted.hex[:8]) == {AsyncTask.objects.get(uuid=wanted).name}
