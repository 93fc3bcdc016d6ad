"""The projects → releases tree on the left of the main window."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QStandardItem, QStandardItemModel

from desktop.format import local_time
from desktop.theme import MUTED_TEXT, phase_colour
from shared.protocol import Project, Release

NodeRole = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class TreeNode:
    """What a row of the tree stands for: a project, or one release of it."""

    project: str
    version: str | None = None

    @property
    def is_release(self) -> bool:
        return self.version is not None


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    parts: list[tuple[int, int | str]] = []
    for piece in version.replace("-", ".").split("."):
        parts.append((0, int(piece)) if piece.isdigit() else (1, piece))
    return tuple(parts)


class ReleaseTreeModel(QStandardItemModel):
    """Projects (sorted by key), each with its releases (newest version first) and their phase."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Project / release", "Phase"])
        self._projects: dict[str, QStandardItem] = {}

    def set_projects(self, projects: list[Project]) -> None:
        """Show exactly ``projects``; releases already loaded for kept projects stay."""
        wanted = {p.key: p for p in projects}
        for key in [k for k in self._projects if k not in wanted]:
            item = self._projects.pop(key)
            self.removeRow(item.row())
        for key in sorted(wanted):
            project = wanted[key]
            existing = self._projects.get(key)
            if existing is not None:
                item = existing
            else:
                item = QStandardItem(project.key)
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
                item.setEditable(False)
                item.setData(TreeNode(project.key), NodeRole)
                summary = QStandardItem("")
                summary.setEditable(False)
                summary.setForeground(QBrush(QColor(MUTED_TEXT)))
                self._projects[key] = item
                self.insertRow(self._sorted_row(key), [item, summary])
            item.setToolTip(f"{project.name}\ncommittee: {project.committee}")

    def _sorted_row(self, key: str) -> int:
        keys = sorted(self._projects)
        return keys.index(key)

    def set_releases(self, project: str, releases: list[Release]) -> None:
        """Show exactly ``releases`` under ``project``, updating rows in place.

        Rows of releases that stay are kept (so a selection in a view survives).
        """
        parent = self._projects.get(project)
        if parent is None:
            return
        wanted = {r.version for r in releases}
        for row in reversed(range(parent.rowCount())):
            node = parent.child(row, 0).data(NodeRole)
            if not isinstance(node, TreeNode) or node.version not in wanted:
                parent.removeRow(row)
        for release in releases:
            self.update_release(release)
        self._count_releases(parent)

    def _count_releases(self, parent: QStandardItem) -> None:
        count = parent.rowCount()
        summary = self.item(parent.row(), 1)
        if summary is not None:
            plural = "s" if count != 1 else ""
            summary.setText(f"{count} release{plural}" if count else "no releases")

    def update_release(self, release: Release) -> None:
        """Update (or add) one release row, e.g. after a phase change."""
        parent = self._projects.get(release.project)
        if parent is None:
            return
        for row in range(parent.rowCount()):
            child = parent.child(row, 0)
            node = child.data(NodeRole)
            if isinstance(node, TreeNode) and node.version == release.version:
                self._fill_phase(parent.child(row, 1), release)
                child.setToolTip(self._tooltip(release))
                return
        versions = [
            parent.child(r, 0).data(NodeRole).version or "" for r in range(parent.rowCount())
        ]
        key = _version_key(release.version)
        row = next((i for i, v in enumerate(versions) if _version_key(v) < key), len(versions))
        parent.insertRow(row, self._release_row(release))
        self._count_releases(parent)

    def _release_row(self, release: Release) -> list[QStandardItem]:
        item = QStandardItem(release.version)
        item.setEditable(False)
        item.setData(TreeNode(release.project, release.version), NodeRole)
        item.setToolTip(self._tooltip(release))
        phase = QStandardItem()
        phase.setEditable(False)
        self._fill_phase(phase, release)
        return [item, phase]

    @staticmethod
    def _fill_phase(item: QStandardItem, release: Release) -> None:
        item.setText(release.phase.value)
        item.setForeground(QBrush(phase_colour(release.phase)))
        font = QFont(item.font())
        font.setBold(True)
        item.setFont(font)

    @staticmethod
    def _tooltip(release: Release) -> str:
        revision = release.latest_revision if release.latest_revision is not None else "none"
        return (
            f"{release.project} {release.version}: {release.phase.value}\n"
            f"created by {release.created_by} at {local_time(release.created_at, with_date=True)}\n"
            f"latest revision: {revision}"
        )

    def node(self, index: _Index) -> TreeNode | None:
        """The project or release a (any column) index stands for."""
        if not index.isValid():
            return None
        first = index.sibling(index.row(), 0)
        value = first.data(NodeRole)
        return value if isinstance(value, TreeNode) else None

    def index_of(self, node: TreeNode) -> QModelIndex:
        """The first-column index of ``node`` (invalid if not shown)."""
        parent = self._projects.get(node.project)
        if parent is None:
            return QModelIndex()
        if node.version is None:
            return parent.index()
        for row in range(parent.rowCount()):
            child = parent.child(row, 0)
            if child.data(NodeRole) == node:
                return child.index()
        return QModelIndex()

    def project_keys(self) -> list[str]:
        return sorted(self._projects)

    def release_versions(self, project: str) -> list[str]:
        parent = self._projects.get(project)
        if parent is None:
            return []
        return [parent.child(r, 0).text() for r in range(parent.rowCount())]
