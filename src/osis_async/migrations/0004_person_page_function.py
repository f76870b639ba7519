# Two changes for the hot paths, both safe on a large, live table:
#
# - The person column's own index goes: the (person, created_at, id) and (person, state,
#   updated_at) indexes start with it and serve every lookup by person, the cascade included,
#   so it only cost a write on every non-HOT update and a plan to weigh on every list.
# - On PostgreSQL, a function that gives one page of a person's list as JSON with both counts
#   and the list's version (osis_async.listing). It is PL/pgSQL so that each database session
#   plans its statement once and reuses the plan (planning cost more than running it), without
#   the client-side prepared statements that transaction-pooling PgBouncer setups forbid.

from django.conf import settings
from django.db import migrations, models

PERSON_MODEL = getattr(settings, "OSIS_ASYNC_PERSON_MODEL", settings.AUTH_USER_MODEL)

ISO_8601 = """replace(to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM'), '+00:00', 'Z')"""

PAGE_FUNCTION = """
CREATE OR REPLACE FUNCTION osis_async_person_page(
    p_person {person_type}, p_running text[], p_limit bigint, p_offset bigint
) RETURNS TABLE (total bigint, pending bigint, latest timestamptz, results text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT counts.total, counts.pending, counts.latest, COALESCE((
        SELECT json_agg(json_build_object(
            'uuid', page.uuid,
            'name', page.name,
            'description', page.description,
            'state', page.state,
            'progression', page.progression,
            'created_at', {created_at},
            'started_at', {started_at},
            'completed_at', {completed_at}
        ) ORDER BY page.created_at DESC, page.id DESC)::text
        FROM (
            SELECT t.id, t.uuid, t.name, t.description, t.state, t.progression, t.created_at,
                   t.started_at, t.completed_at
            FROM osis_async_asynctask AS t
            WHERE t.person_id = p_person
            ORDER BY t.created_at DESC, t.id DESC
            LIMIT p_limit OFFSET p_offset
        ) AS page
    ), '[]')
    FROM (
        SELECT COUNT(*) AS total,
               COUNT(*) FILTER (WHERE t.state = ANY (p_running)) AS pending,
               MAX(t.updated_at) AS latest
        FROM osis_async_asynctask AS t
        WHERE t.person_id = p_person
    ) AS counts;
END;
$$;
"""


def page_function_sql(person_type: str) -> str:
    return PAGE_FUNCTION.format(
        person_type=person_type,
        **{
            name: ISO_8601.format(column=f"page.{name}")
            for name in ("created_at", "started_at", "completed_at")
        },
    )


def create_page_function(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    person = apps.get_model("osis_async", "AsyncTask")._meta.get_field("person")
    schema_editor.execute(page_function_sql(person.db_type(connection)))


def drop_page_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS osis_async_person_page")


class Migration(migrations.Migration):

    dependencies = [
        ("osis_async", "0003_version_index_and_notify_trigger"),
        migrations.swappable_dependency(PERSON_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="asynctask",
            name="person",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.CASCADE,
                related_name="async_tasks",
                to=PERSON_MODEL,
                verbose_name="person",
            ),
        ),
        migrations.RunPython(create_page_function, drop_page_function, elidable=False),
    ]
