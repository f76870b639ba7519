# The index the retention purge (``purge_async_tasks``) uses to find old finished tasks. On
# PostgreSQL it is built with CREATE INDEX CONCURRENTLY, so migrating a large, live task table
# does not block writes while it builds (hence ``atomic = False``); elsewhere a plain CREATE INDEX.

from django.db import migrations, models

from osis_async.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('osis_async', '0001_initial'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='asynctask',
            index=models.Index(fields=['state', 'completed_at'], name='osis_async_completed_idx'),
        ),
    ]
