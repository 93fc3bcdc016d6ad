"""Qt item models the views show; filled by the session's signals, never doing I/O."""

from desktop.models.events import EventFilterProxy, EventLogModel, describe_event
from desktop.models.files import FilesModel
from desktop.models.releases import ReleaseTreeModel, TreeNode
from desktop.models.tasks import TasksModel

__all__ = [
    "EventFilterProxy",
    "EventLogModel",
    "FilesModel",
    "ReleaseTreeModel",
    "TasksModel",
    "TreeNode",
    "describe_event",
]
