# A task's outcome for its person: a result to open (a URL, or a file in the result storage) and
# a short reason when it failed; the list's items gain result_url, result_label and
# error_message.
#
# Safe on a large, live table: the columns are nullable without a default, so adding them is a
# change of the catalogue alone (no row is rewritten, the lock is held for an instant), and the
# page function is replaced in place. Table and column names come from the model as it stands in
# this migration.

import importlib

import osis_async.result_storage
from django.conf import settings
from django.db import migrations, models

PERSON_MODEL = getattr(settings, "OSIS_ASYNC_PERSON_MODEL", settings.AUTH_USER_MODEL)

#: The uuid the result path the list is given holds in place of each task's (task_row).
RESULT_PATH_UUID = "00000000-0000-0000-0000-000000000000"

PAGE_FUNCTION = """
CREATE FUNCTION osis_async_person_page(
    p_person {person_type}, p_running text[], p_limit bigint, p_offset bigint,
    p_description_max integer, p_lock_timeout text, p_result_path text
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
                   'completed_at', {completed_at_text},
                   'result_url', CASE
                       WHEN rows.{result_url} IS NOT NULL THEN rows.{result_url}
                       WHEN rows.{result_file} <> ''
                       THEN replace(p_result_path, '{result_path_uuid}', rows.{uuid}::text)
                       END,
                   'result_label', rows.{result_label},
                   'error_message', rows.{error_message}
               ) ORDER BY rows.{created_at} DESC, rows.{id} DESC)::text AS results
        FROM (
            SELECT t.{id}, t.{uuid}, t.{name}, t.{description}, t.{state}, t.{progression},
                   t.{created_at}, t.{updated_at}, t.{started_at}, t.{completed_at},
                   t.{result_url}, t.{result_file}, t.{result_label}, t.{error_message}
            FROM {table} AS t
            WHERE t.{person} = p_person
            ORDER BY t.{created_at} DESC, t.{id} DESC
            LIMIT p_limit OFFSET p_offset
        ) AS rows
    ) AS page;
END;
$$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS osis_async_person_page({person_type}, text[], bigint, bigint, "
    "integer, text, text)"
)

NEW_FIELDS = ("result_url", "result_file", "result_label", "error_message")


def _previous():
    return importlib.import_module("osis_async.migrations.0006_hot_progress_ticks")


def _names(apps, schema_editor):
    names = _previous()._names(apps, schema_editor)
    model = apps.get_model("osis_async", "AsyncTask")
    for field in NEW_FIELDS:
        names[field] = schema_editor.quote_name(model._meta.get_field(field).column)
    names["result_path_uuid"] = RESULT_PATH_UUID
    return names


def replace_page_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    names = _names(apps, schema_editor)
    schema_editor.execute(_previous().DROP[0].format(**names))
    schema_editor.execute(PAGE_FUNCTION.format(**names))


def restore_0006_page_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    names = _names(apps, schema_editor)
    schema_editor.execute(DROP.format(**names))
    previous = _previous()
    schema_editor.execute(previous.PAGE_FUNCTION.format(**previous._names(apps, schema_editor)))


class Migration(migrations.Migration):
    dependencies = [
        ("osis_async", "0006_hot_progress_ticks"),
        migrations.swappable_dependency(PERSON_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="asynctask",
            name="result_url",
            field=models.TextField(blank=True, null=True, verbose_name="result URL"),
        ),
        migrations.AddField(
            model_name="asynctask",
            name="result_file",
            field=models.FileField(
                blank=True,
                max_length=255,
                null=True,
                storage=osis_async.result_storage.result_storage,
                upload_to=osis_async.result_storage.result_path,
                verbose_name="result file",
            ),
        ),
        migrations.AddField(
            model_name="asynctask",
            name="result_filename",
            field=models.TextField(blank=True, null=True, verbose_name="result file name"),
        ),
        migrations.AddField(
            model_name="asynctask",
            name="result_label",
            field=models.TextField(blank=True, null=True, verbose_name="result label"),
        ),
        migrations.AddField(
            model_name="asynctask",
            name="error_message",
            field=models.TextField(blank=True, null=True, verbose_name="error message"),
        ),
        migrations.RunPython(replace_page_function, restore_0006_page_function, elidable=False),
    ]
