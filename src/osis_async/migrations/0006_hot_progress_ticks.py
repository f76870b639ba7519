# Progress ticks become HOT updates (PostgreSQL writes no index entry for them):
#
# - updated_at leaves every index: (person, state, updated_at) becomes (person, state), which
#   still gives both counts from the index alone;
# - a page's version is now its counts and its own rows (each row's id and updated_at, read with
#   the page), so a conditional poll still costs one indexed query and sees every change the page
#   shows, a worker's clock that lags included;
# - the table keeps 10 % of each new page free (fillfactor 90), so a row's next version fits
#   beside it.
#
# Safe on a large, live table: the index is built and dropped concurrently, the fillfactor only
# changes how new pages are filled (no rewrite), and the functions are replaced in place. Table
# and column names come from the model as it stands in this migration.

import importlib

from django.conf import settings
from django.db import migrations, models

from osis_async.migration_operations import AddIndexConcurrently, RemoveIndexConcurrently

PERSON_MODEL = getattr(settings, "OSIS_ASYNC_PERSON_MODEL", settings.AUTH_USER_MODEL)

FILLFACTOR = 90

ISO_8601 = """replace(to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM'), '+00:00', 'Z')"""

#: A row's part of its page's signature: its id and its updated_at to the microsecond.
ROW_SIGNATURE = (
    "rows.{id}::text || ':' || (extract(epoch FROM rows.{updated_at}) * 1000000)::bigint::text"
)

PAGE_FUNCTION = """
CREATE FUNCTION osis_async_person_page(
    p_person {person_type}, p_running text[], p_limit bigint, p_offset bigint,
    p_description_max integer, p_lock_timeout text
) RETURNS TABLE (total bigint, pending bigint, signature text, results text)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET lock_timeout = '3s'
AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    RETURN QUERY
    SELECT counts.total, counts.pending, COALESCE(page.signature, ''), COALESCE(page.results, '[]')
    FROM (
        SELECT COUNT(*) AS total,
               COUNT(*) FILTER (WHERE t.{state} = ANY (p_running)) AS pending
        FROM {table} AS t
        WHERE t.{person} = p_person
    ) AS counts, (
        SELECT string_agg({row_signature}, ',' ORDER BY rows.{created_at} DESC, rows.{id} DESC)
                   AS signature,
               json_agg(json_build_object(
                   'uuid', rows.{uuid},
                   'name', rows.{name},
                   'description', CASE
                       WHEN octet_length(rows.{description}) > p_description_max
                            AND char_length(rows.{description}) > p_description_max
                       THEN left(rows.{description}, p_description_max - 1) || '…'
                       ELSE rows.{description} END,
                   'state', rows.{state},
                   'progression', rows.{progression},
                   'created_at', {created_at_text},
                   'started_at', {started_at_text},
                   'completed_at', {completed_at_text}
               ) ORDER BY rows.{created_at} DESC, rows.{id} DESC)::text AS results
        FROM (
            SELECT t.{id}, t.{uuid}, t.{name}, t.{description}, t.{state}, t.{progression},
                   t.{created_at}, t.{updated_at}, t.{started_at}, t.{completed_at}
            FROM {table} AS t
            WHERE t.{person} = p_person
            ORDER BY t.{created_at} DESC, t.{id} DESC
            LIMIT p_limit OFFSET p_offset
        ) AS rows
    ) AS page;
END;
$$;
"""

VERSION_FUNCTION = """
CREATE FUNCTION osis_async_person_version(
    p_person {person_type}, p_running text[], p_limit bigint, p_offset bigint,
    p_lock_timeout text
) RETURNS TABLE (total bigint, pending bigint, signature text)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET lock_timeout = '3s'
AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    RETURN QUERY
    SELECT counts.total, counts.pending, COALESCE(page.signature, '')
    FROM (
        SELECT COUNT(*) AS total,
               COUNT(*) FILTER (WHERE t.{state} = ANY (p_running)) AS pending
        FROM {table} AS t
        WHERE t.{person} = p_person
    ) AS counts, (
        SELECT string_agg({row_signature}, ',' ORDER BY rows.{created_at} DESC, rows.{id} DESC)
                   AS signature
        FROM (
            SELECT t.{id}, t.{created_at}, t.{updated_at}
            FROM {table} AS t
            WHERE t.{person} = p_person
            ORDER BY t.{created_at} DESC, t.{id} DESC
            LIMIT p_limit OFFSET p_offset
        ) AS rows
    ) AS page;
END;
$$;
"""

DROP = [
    "DROP FUNCTION IF EXISTS osis_async_person_page({person_type}, text[], bigint, bigint, "
    "integer, text)",
    "DROP FUNCTION IF EXISTS osis_async_person_version({person_type}, text[], bigint, bigint, "
    "text)",
]


def _names(apps, schema_editor):
    model = apps.get_model("osis_async", "AsyncTask")
    quote = schema_editor.quote_name
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
    names["person_type"] = model._meta.get_field("person").db_type(schema_editor.connection)
    for field in ("created_at", "started_at", "completed_at"):
        names[f"{field}_text"] = ISO_8601.format(column=f"rows.{names[field]}")
    names["row_signature"] = ROW_SIGNATURE.format(**names)
    return names


def replace_functions(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    names = _names(apps, schema_editor)
    previous = importlib.import_module("osis_async.migrations.0005_bounded_list_functions")
    for statement in previous.DROP:
        schema_editor.execute(statement.format(**names))
    schema_editor.execute(PAGE_FUNCTION.format(**names))
    schema_editor.execute(VERSION_FUNCTION.format(**names))
    schema_editor.execute(f"ALTER TABLE {names['table']} SET (fillfactor = {FILLFACTOR})")


def restore_0005_functions(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    names = _names(apps, schema_editor)
    for statement in DROP:
        schema_editor.execute(statement.format(**names))
    previous = importlib.import_module("osis_async.migrations.0005_bounded_list_functions")
    previous_names = previous._names(apps, schema_editor)
    schema_editor.execute(previous.PAGE_FUNCTION.format(**previous_names))
    schema_editor.execute(previous.VERSION_FUNCTION.format(**previous_names))
    schema_editor.execute(f"ALTER TABLE {names['table']} RESET (fillfactor)")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("osis_async", "0005_bounded_list_functions"),
        migrations.swappable_dependency(PERSON_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="asynctask",
            index=models.Index(fields=["person", "state"], name="osis_async_person_state_idx"),
        ),
        migrations.RunPython(replace_functions, restore_0005_functions, elidable=False),
        RemoveIndexConcurrently(model_name="asynctask", name="osis_async_person_version_idx"),
    ]
