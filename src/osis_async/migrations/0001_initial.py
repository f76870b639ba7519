
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models

# The model tasks are shown to: AUTH_USER_MODEL unless OSIS_ASYNC_PERSON_MODEL says otherwise.
PERSON_MODEL = getattr(settings, "OSIS_ASYNC_PERSON_MODEL", settings.AUTH_USER_MODEL)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(PERSON_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AsyncTask',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uuid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True, verbose_name='UUID')),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('description', models.TextField(blank=True, default='', verbose_name='description')),
                ('state', models.CharField(choices=[('PENDING', 'Pending'), ('PROCESSING', 'Processing'), ('DONE', 'Done'), ('ERROR', 'Error')], default='PENDING', max_length=10, verbose_name='state')),
                ('progression', models.PositiveSmallIntegerField(default=0, verbose_name='progression')),
                ('time_to_live', models.PositiveIntegerField(default=5, help_text='Minutes the task has to complete once started.', verbose_name='time to live')),
                ('traceback', models.TextField(blank=True, default='', verbose_name='traceback')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated at')),
                ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='started at')),
                ('completed_at', models.DateTimeField(blank=True, null=True, verbose_name='completed at')),
                ('person', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='async_tasks', to=PERSON_MODEL, verbose_name='person')),
            ],
            options={
                'verbose_name': 'asynchronous task',
                'verbose_name_plural': 'asynchronous tasks',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['person', '-created_at', '-id'], name='osis_async_person_recent_idx'), models.Index(fields=['person', 'state'], name='osis_async_person_state_idx'), models.Index(condition=models.Q(('state__in', ['PENDING', 'PROCESSING'])), fields=['state', 'started_at'], name='osis_async_running_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('progression__gte', 0), ('progression__lte', 100)), name='osis_async_progression_0_100'), models.CheckConstraint(condition=models.Q(('time_to_live__gte', 0)), name='osis_async_time_to_live_not_negative'), models.CheckConstraint(condition=models.Q(('state__in', ['PENDING', 'PROCESSING', 'DONE', 'ERROR'])), name='osis_async_state_valid')],
            },
        ),
    ]
