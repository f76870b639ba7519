# The list's version (count and latest updated_at) and both counts read from one index, and on
# PostgreSQL a trigger that NOTIFYs the person of every changed row, for the task stream.

from django.conf import settings
from django.db import migrations, models

from osis_async.migration_operations import (
    AddIndexConcurrently,
    RemoveIndexConcurrently,
    RunSQLOnPostgreSQL,
)

PERSON_MODEL = getattr(settings, "OSIS_ASYNC_PERSON_MODEL", settings.AUTH_USER_MODEL)

NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION osis_async_notify_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.person_id IS NOT NULL THEN
        PERFORM pg_notify('osis_async_tasks', OLD.person_id::text);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.person_id IS NOT NULL THEN
        PERFORM pg_notify('osis_async_tasks', NEW.person_id::text);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

NOTIFY_TRIGGER = """
CREATE TRIGGER osis_async_notify_change
AFTER INSERT OR UPDATE OR DELETE ON osis_async_asynctask
FOR EACH ROW EXECUTE FUNCTION osis_async_notify_change();
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("osis_async", "0002_asynctask_completed_idx"),
        migrations.swappable_dependency(PERSON_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="asynctask",
            index=models.Index(
                fields=["person", "state", "updated_at"], name="osis_async_person_version_idx"
            ),
        ),
        RemoveIndexConcurrently(
            model_name="asynctask",
            name="osis_async_person_state_idx",
        ),
        RunSQLOnPostgreSQL(
            sql=[NOTIFY_FUNCTION, NOTIFY_TRIGGER],
            reverse_sql=[
                "DROP TRIGGER IF EXISTS osis_async_notify_change ON osis_async_asynctask;",
                "DROP FUNCTION IF EXISTS osis_async_notify_change();",
            ],
        ),
    ]
