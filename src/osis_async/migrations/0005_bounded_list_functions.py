# The list's statements on PostgreSQL, bounded:
#
# - osis_async_person_page (replacing 0004's) cuts descriptions longer than the longest the
#   list returns, so a page has a bounded size whatever older rows hold, and it waits at most
#   the given lock_timeout for the table (a LOCK TABLE or a long migration elsewhere answers a
#   503 instead of holding the request and its connection);
# - osis_async_person_version, the conditional poll's validator, likewise.
#
# lock_timeout is set for the function's own statement: the SET clause makes PostgreSQL put the
# caller's value back when the function returns, so a site's transaction around the request
# keeps its own. Table and column names come from the model as it stands in this migration.

import importlib

from django.conf import settings
from django.db import migrations

PERSON_MODEL = getattr(settings, "OSIS_ASYNC_PERSON_MODEL", settings.AUTH_USER_MODEL)

ISO_8601 = """replace(to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM'), '+00:00', 'Z')"""

PAGE_FUNCTION = """
CREATE FUNCTION osis_async_person_page(
    p_person {person_type}, p_running text[], p_limit bigint, p_offset bigint,
    p_description_max integer, p_lock_timeout text
) RETURNS TABLE (total bigint, pending bigint, latest timestamptz, results text)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET lock_timeout = '3s'
AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    RETURN QUERY
    SELECT counts.total, counts.pending, counts.latest, COALESCE((
        SELECT json_agg(json_build_object(
            'uuid', page.{uuid},
            'name', page.{name},
            'description', CASE
                WHEN octet_length(page.{description}) > p_description_max
                     AND char_length(page.{description}) > p_description_max
                THEN left(page.{description}, p_description_max - 1) || '…'
                ELSE page.{description} END,
            'state', page.{state},
            'progression', page.{progression},
            'created_at', {created_at_text},
            'started_at', {started_at_text},
            'completed_at', {completed_at_text}
        ) ORDER BY page.{created_at} DESC, page.{id} DESC)::text
        FROM (
            SELECT t.{id}, t.{uuid}, t.{name}, t.{description}, t.{state}, t.{progression},
                   t.{created_at}, t.{started_at}, t.{completed_at}
            FROM {table} AS t
            WHERE t.{person} = p_person
            ORDER BY t.{created_at} DESC, t.{id} DESC
            LIMIT p_limit OFFSET p_offset
        ) AS page
    ), '[]')
    FROM (
        SELECT COUNT(*) AS total,
               COUNT(*) FILTER (WHERE t.{state} = ANY (p_running)) AS pending,
               MAX(t.{updated_at}) AS latest
        FROM {table} AS t
        WHERE t.{person} = p_person
    ) AS counts;
END;
$$;
"""

VERSION_FUNCTION = """
CREATE FUNCTION osis_async_person_version(p_person {person_type}, p_lock_timeout text)
RETURNS TABLE (total bigint, latest timestamptz)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET lock_timeout = '3s'
AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    RETURN QUERY
    SELECT COUNT(*), MAX(t.{updated_at}) FROM {table} AS t WHERE t.{person} = p_person;
END;
$$;
"""

DROP = [
    "DROP FUNCTION IF EXISTS osis_async_person_page({person_type}, text[], bigint, bigint, "
    "integer, text)",
    "DROP FUNCTION IF EXISTS osis_async_person_version({person_type}, text)",
]


def _names(apps, schema_editor):
    model = apps.get_model("osis_async", "AsyncTask")
    quote = schema_editor.quote_name
    person = model._meta.get_field("person")
    names = {
        field: quote(model._meta.get_field(field).column)
        for field in (
            "uuid",
            "name",
            "description",
            "state",
            "progression",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
            "person",
        )
    }
    names["id"] = quote(model._meta.pk.column)
    names["table"] = quote(model._meta.db_table)
    names["person_type"] = person.db_type(schema_editor.connection)
    for field in ("created_at", "started_at", "completed_at"):
        names[f"{field}_text"] = ISO_8601.format(column=f"page.{names[field]}")
    return names


def create_functions(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    names = _names(apps, schema_editor)
    schema_editor.execute("DROP FUNCTION IF EXISTS osis_async_person_page")
    schema_editor.execute(PAGE_FUNCTION.format(**names))
    schema_editor.execute(VERSION_FUNCTION.format(**names))


def restore_0004_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    names = _names(apps, schema_editor)
    for statement in DROP:
        schema_editor.execute(statement.format(**names))
    previous = importlib.import_module("osis_async.migrations.0004_person_page_function")
    schema_editor.execute(previous.page_function_sql(names["person_type"]))


class Migration(migrations.Migration):
    dependencies = [
        ("osis_async", "0004_person_page_function"),
        migrations.swappable_dependency(PERSON_MODEL),
    ]

    operations = [
        migrations.RunPython(create_functions, restore_0004_function, elidable=False),
    ]
