"""Colours and fonts shared by models and views: a phase or state looks the same everywhere."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase

from shared.lifecycle import Phase
from shared.protocol import EventKind, TaskState

PHASE_COLOURS: dict[Phase, str] = {
    Phase.COMPOSE: "#5c6bc0",
    Phase.CHECKS: "#f9a825",
    Phase.CANDIDATE: "#00897b",
    Phase.STAGED: "#0097a7",
    Phase.VOTE: "#8e24aa",
    Phase.PASSED: "#43a047",
    Phase.DISTRIBUTE: "#1e88e5",
    Phase.ANNOUNCED: "#2e7d32",
    Phase.ARCHIVED: "#757575",
    Phase.FAILED: "#e53935",
}
"""A badge colour per release phase (white text on it reads well)."""

TASK_STATE_COLOURS: dict[TaskState, str] = {
    TaskState.QUEUED: "#757575",
    TaskState.RUNNING: "#1e88e5",
    TaskState.SUCCEEDED: "#2e7d32",
    TaskState.FAILED: "#c62828",
    TaskState.CANCELLED: "#8d6e63",
}

EVENT_KIND_COLOURS: dict[EventKind, str] = {
    EventKind.TASK_FINISHED: "#2e7d32",
    EventKind.TASK_RETRY: "#ef6c00",
    EventKind.PHASE_CHANGED: "#8e24aa",
    EventKind.RELEASE_CREATED: "#5c6bc0",
    EventKind.REVISION_CREATED: "#00897b",
}
FAILED_EVENT_COLOUR = "#c62828"
MUTED_TEXT = "#757575"
"""Secondary text: summaries, placeholders."""

CHECK_STATUS_COLOURS: dict[str, str] = {
    "blocker": "#c62828",
    "warning": "#e65100",
    "note": "#1565c0",
    "pass": "#2e7d32",
}
"""A colour per check result severity (``shared.protocol.checks.CheckStatus``)."""
IGNORED_COLOUR = "#9e9e9e"
"""Results an ignore rule of the project's policy took out of the count."""

LICENSE_CATEGORY_COLOURS: dict[str, str] = {
    "A": "#2e7d32",
    "B": "#ef8f00",
    "X": "#c62828",
    "unknown": "#757575",
}
"""ASF license categories of SBOM components: A green, B amber, X red, unknown grey."""

CONNECTION_COLOURS: dict[str, str] = {
    "connected": "#2e7d32",
    "connecting": "#f9a825",
    "reconnecting": "#ef6c00",
    "disconnected": "#9e9e9e",
}

STEP_STATE_COLOURS: dict[str, str] = {
    "pending": "#757575",
    "running": "#1e88e5",
    "done": "#2e7d32",
    "failed": "#c62828",
    "manual": "#ef6c00",
}
"""A file on a channel of a distribution (``shared.protocol.distribute.StepState``)."""

DISTRIBUTION_STATE_COLOURS: dict[str, str] = {
    "none": "#757575",
    "planned": "#5c6bc0",
    "running": "#1e88e5",
    "done": "#00897b",
    "failed": "#c62828",
    "verified": "#2e7d32",
}
"""A distribution as a whole (``DistributionStatus.state``)."""


def phase_colour(phase: Phase) -> QColor:
    return QColor(PHASE_COLOURS[phase])


def task_state_colour(state: TaskState) -> QColor:
    return QColor(TASK_STATE_COLOURS[state])


def monospace_font() -> QFont:
    """The system's fixed-pitch font, for hashes, ids and log lines."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font
