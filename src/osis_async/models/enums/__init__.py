from osis_async.models.enums.task import Runner, TaskState

__all__ = ["Runner", "TaskState"]
