from osis_async.models.enums import TaskState
from osis_async.models.task import AsyncTask

__all__ = ["AsyncTask", "TaskState"]
