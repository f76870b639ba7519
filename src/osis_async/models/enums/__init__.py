from osis_async.models.enums.task import TaskState

__all__ = ["TaskState"]
