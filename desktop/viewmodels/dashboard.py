"""The project dashboard: release statistics (for the charts) and the release practice.

Both come from the agent, computed from its event log (``GET …/stats``, ``…/practice``);
:meth:`DashboardViewModel.load` fetches both for one project, and ``release.*`` /
``vote.*`` events of that project reload them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.session import Session
from desktop.viewmodels.steps import StepViewModel
from shared.protocol import Event, EventKind
from shared.protocol.triggers import ReleasePractice, ReleaseStats

__all__ = ["Dashboard", "DashboardViewModel", "DurationRow"]

RECENT = 12
"""How many of the latest releases the duration chart shows."""
_RELOADING = frozenset(
    {
        EventKind.RELEASE_ANNOUNCED,
        EventKind.RELEASE_IMPORTED,
        EventKind.VOTE_DECIDED,
        EventKind.VOTE_STARTED,
        EventKind.PHASE_CHANGED,
        EventKind.CHECKS_DONE,
    }
)


@dataclass(frozen=True, slots=True)
class DurationRow:
    version: str
    upload_to_vote: float
    vote: float
    passed_to_announced: float


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What the charts and the practice panel show."""

    stats: ReleaseStats
    practice: ReleasePractice

    @property
    def per_year(self) -> list[tuple[str, int]]:
        return list(self.stats.per_year.items())

    @property
    def durations(self) -> list[DurationRow]:
        """The latest releases that went through this agent (imported ones have no spans)."""
        rows = [
            DurationRow(
                s.version,
                s.upload_to_vote_hours or 0.0,
                s.vote_hours or 0.0,
                s.passed_to_announced_hours or 0.0,
            )
            for s in self.stats.releases
            if not s.imported
            and any(
                v is not None
                for v in (s.upload_to_vote_hours, s.vote_hours, s.passed_to_announced_hours)
            )
        ]
        return rows[-RECENT:]

    @property
    def check_failures(self) -> list[tuple[str, int]]:
        return sorted(self.stats.check_failures.items(), key=lambda kv: (-kv[1], kv[0]))[:10]


class DashboardViewModel(StepViewModel):
    """One project's dashboard at a time."""

    loaded = Signal(object)
    """:class:`Dashboard`"""
    projects_changed = Signal(list)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.project: str | None = None
        self.dashboard: Dashboard | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self.reload)
        session.event_received.connect(self._on_event)

    def load(self, project: str) -> None:
        self.project = project
        self.reload()

    def _reload_if_running(self) -> None:
        if _loop_running():
            self.reload()

    def reload(self) -> None:
        project = self.project
        if project is None:
            return
        if not _loop_running():  # built before the loop runs, or called while it stops:
            QTimer.singleShot(0, self._reload_if_running)  # once the loop runs, if it does
            return

        async def run() -> Dashboard:
            stats = await self.session.release_stats(project)
            practice = await self.session.release_practice(project)
            found = Dashboard(stats=stats, practice=practice)
            if self.project == project:
                self.dashboard = found
                self.loaded.emit(found)
            return found

        self._start(run(), f"loading the dashboard of {project}")

    def _on_event(self, event: Event) -> None:
        if event.project == self.project and event.kind in _RELOADING:
            self._timer.start()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
