# Cancel: the state CANCELLED, the moment the person asked to stop a running task
# (cancel_requested_at), and what runs the job (runner: a Celery job is revoked when cancelled);
# the list's items gain cancel_requested.
#
# Safe on a large, live table, on PostgreSQL: the migration is not one transaction, so no lock
# outlives its statement. The new columns are nullable or have a constant default in the
# database (a change of the catalogue alone; code that does not know them still inserts), the
# state check is added NOT VALID (an instant) and then validated under a lock that lets reads and
# writes go on, and the page function is replaced in one transaction of its own. Going back, the
# CANCELLED tasks become ERROR before the four-state check returns. Table and column names come
# from the model as it stands in this migration.

import importlib

from django.conf import settings
from django.db import migrations, models

import osis_async.migration_operations

PERSON_MODEL = getattr(settings, "OSIS_ASYNC_PERSON_MODEL", settings.AUTH_USER_MODEL)

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
                   'error_message', rows.{error_message},
                   'cancel_requested', (rows.{cancel_requested_at} IS NOT NULL
                                        AND rows.{state} = ANY (p_running))
               ) ORDER BY rows.{created_at} DESC, rows.{id} DESC)::text AS results
        FROM (
            SELECT t.{id}, t.{uuid}, t.{name}, t.{description}, t.{state}, t.{progression},
                   t.{created_at}, t.{updated_at}, t.{started_at}, t.{completed_at},
                   t.{result_url}, t.{result_file}, t.{result_label}, t.{error_message},
                   t.{cancel_requested_at}
            FROM {table} AS t
            WHERE t.{person} = p_person
            ORDER BY t.{created_at} DESC, t.{id} DESC
            LIMIT p_limit OFFSET p_offset
        ) AS rows
    ) AS page;
END;
$$;
"""


def _previous():
    return importlib.import_module("osis_async.migrations.0007_task_results")


def _names(apps, schema_editor):
    names = _previous()._names(apps, schema_editor)
    model = apps.get_model("osis_async", "AsyncTask")
    column = model._meta.get_field("cancel_requested_at").column
    names["cancel_requested_at"] = schema_editor.quote_name(column)
    return names


def replace_page_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    names = _names(apps, schema_editor)
    schema_editor.execute(_previous().DROP.format(**names))
    schema_editor.execute(PAGE_FUNCTION.format(**names))


def cancelled_to_error(apps, schema_editor):
    """(going back) The previous versions know no CANCELLED: those tasks become ERROR."""
    model = apps.get_model("osis_async", "AsyncTask")
    model.objects.using(schema_editor.connection.alias).filter(state="CANCELLED").update(
        state="ERROR"
    )


def restore_0007_page_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    previous = _previous()
    names = previous._names(apps, schema_editor)
    schema_editor.execute(previous.DROP.format(**names))
    schema_editor.execute(previous.PAGE_FUNCTION.format(**names))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("osis_async", "0007_task_results"),
        migrations.swappable_dependency(PERSON_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="asynctask", name="osis_async_state_valid"),
        migrations.RunPython(migrations.RunPython.noop, cancelled_to_error, atomic=True),
        migrations.AddField(
            model_name="asynctask",
            name="cancel_requested_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="cancel requested at"),
        ),
        migrations.AddField(
            model_name="asynctask",
            name="runner",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "The site's own code"),
                    ("celery", "Celery"),
                    ("celery-terminate", "Celery, ended by a cancel"),
                    ("django.tasks", "django.tasks"),
                ],
                db_default="",
                default="",
                max_length=20,
                verbose_name="runner",
            ),
        ),
        migrations.AlterField(
            model_name="asynctask",
            name="state",
            field=models.CharField(
                choices=[
                    ("PENDING", "Pending"),
                    ("PROCESSING", "Processing"),
                    ("DONE", "Done"),
                    ("ERROR", "Error"),
                    ("CANCELLED", "Cancelled"),
                ],
                default="PENDING",
                max_length=10,
                verbose_name="state",
            ),
        ),
        osis_async.migration_operations.AddConstraintNotValid(
            model_name="asynctask",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("state__in", ["PENDING", "PROCESSING", "DONE", "ERROR", "CANCELLED"])
                ),
                name="osis_async_state_valid",
            ),
        ),
        migrations.RunPython(
            replace_page_function, restore_0007_page_function, atomic=True, elidable=False
        ),
    ]
