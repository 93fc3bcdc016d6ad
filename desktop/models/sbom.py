"""The components of one artifact's SBOM, with their ASF license category in colour.

The rows come from the ``sbom`` check's summary result (``data.components``: name,
version, purl, license, category ``A``/``B``/``X``/``unknown``, scope, role,
manifests — see docs/checks-license-sbom.md). Values the check did not give are
shown empty, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFont

from desktop.models.table import Index, RowTableModel
from desktop.theme import LICENSE_CATEGORY_COLOURS, monospace_font

COLUMNS = ("Name", "Version", "License", "Category", "Scope", "purl")
NAME, VERSION, LICENSE, CATEGORY, SCOPE, PURL = range(6)
CATEGORIES: tuple[str, ...] = ("A", "B", "X", "unknown")
_CATEGORY_RANK = {"X": 0, "unknown": 1, "B": 2, "A": 3}
CATEGORY_MEANING = {
    "A": "Category A: may be included in Apache releases",
    "B": "Category B: may be included in binary form only",
    "X": "Category X: may never be included in an Apache release",
    "unknown": "no known category: the license is not stated or not in the ASF lists",
}
ComponentRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Component:
    """One component of an SBOM as the ``sbom`` check lists it."""

    name: str
    version: str
    purl: str
    license: str
    category: str
    scope: str
    role: str
    manifests: tuple[str, ...]

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Component:
        category = _text(data.get("category")) or "unknown"
        manifests = data.get("manifests")
        return cls(
            name=_text(data.get("name")),
            version=_text(data.get("version")),
            purl=_text(data.get("purl")),
            license=_text(data.get("license")),
            category=category if category in LICENSE_CATEGORY_COLOURS else "unknown",
            scope=_text(data.get("scope")),
            role=_text(data.get("role")),
            manifests=tuple(str(m) for m in manifests) if isinstance(manifests, list) else (),
        )


def category_counts(components: Sequence[Component]) -> dict[str, int]:
    """How many components are in each category (every category present)."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for component in components:
        counts[component.category] += 1
    return counts


class ComponentsModel(RowTableModel[Component]):
    """The components of one SBOM."""

    COLUMNS = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._mono = monospace_font()
        self._bold = QFont()
        self._bold.setBold(True)

    def set_components(self, components: Sequence[Component]) -> None:
        self.set_rows(components)

    def components(self) -> list[Component]:
        return self.rows()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        component = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(component, column)
        if role == ComponentRole:
            return component
        if role == SortRole:
            return self._sort_key(component, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(component, column)
        return self._style(component, column, role)

    @staticmethod
    def _display(component: Component, column: int) -> str:
        values = (
            component.name,
            component.version,
            component.license,
            component.category,
            component.scope,
            component.purl,
        )
        return values[column]

    @staticmethod
    def _sort_key(component: Component, column: int) -> str:
        if column == CATEGORY:  # worst first: X, unknown, B, A
            return f"{_CATEGORY_RANK[component.category]}\t{component.name.lower()}"
        return ComponentsModel._display(component, column).lower()

    @staticmethod
    def _tooltip(component: Component, column: int) -> str:
        if column == CATEGORY:
            return CATEGORY_MEANING[component.category]
        if column == NAME and component.manifests:
            return f"{component.name} ({component.role or 'component'})\n" + "\n".join(
                f"declared in {m}" for m in component.manifests
            )
        return ComponentsModel._display(component, column)

    def _style(self, component: Component, column: int, role: int) -> Any:
        if column == CATEGORY:
            colour = QColor(LICENSE_CATEGORY_COLOURS[component.category])
            if role == Qt.ItemDataRole.ForegroundRole:
                return colour
            if role == Qt.ItemDataRole.BackgroundRole:
                colour.setAlpha(34)
                return colour
            if role == Qt.ItemDataRole.FontRole:
                return self._bold
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.FontRole and column == PURL:
            return self._mono
        return None


class ComponentsFilter(QSortFilterProxyModel):
    """Case-insensitive text filter over every column, sorted by :data:`SortRole`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)
        self.setSortRole(SortRole)

    def set_filter_text(self, text: str) -> None:
        self.setFilterFixedString(text.strip())
