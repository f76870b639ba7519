from django.urls import path

from osis_async.events.stream import task_stream
from osis_async.schema import HAS_SPECTACULAR
from osis_async.views import (
    DismissFinishedView,
    TaskCancelView,
    TaskDismissView,
    TaskListView,
    TaskProgressView,
    task_result,
)

app_name = "osis_async"

urlpatterns = [
    path("tasks/", TaskListView.as_view(), name="task-list"),
    path("tasks/stream/", task_stream, name="task-stream"),
    path("tasks/<uuid:uuid>/progress/", TaskProgressView.as_view(), name="task-progress"),
    path("tasks/<uuid:uuid>/result/", task_result, name="task-result"),
    path("tasks/<uuid:uuid>/cancel/", TaskCancelView.as_view(), name="task-cancel"),
    path("tasks/<uuid:uuid>/dismiss/", TaskDismissView.as_view(), name="task-dismiss"),
    path("tasks/dismiss-finished/", DismissFinishedView.as_view(), name="task-dismiss-finished"),
]

if HAS_SPECTACULAR:
    from osis_async.views import TaskSchemaView

    urlpatterns.append(path("schema/", TaskSchemaView.as_view(), name="schema"))
