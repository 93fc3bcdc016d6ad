"""The upload flow: pick files, send them into one new revision, follow progress, cancel."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop.session import Session, describe_error
from shared.errors import ValidationError
from shared.ids import check_relpath
from shared.protocol import Revision


@dataclass(slots=True)
class UploadItem:
    """One file to upload and how far it got."""

    path: Path
    name: str
    """Its path inside the release."""
    size: int
    sent: int = 0

    @property
    def done(self) -> bool:
        return self.sent >= self.size


class UploadViewModel(QObject):
    """Files chosen for one release, uploaded together as one revision."""

    files_changed = Signal()
    file_progress = Signal(int, int, int)
    """row, bytes sent, file size"""
    overall_progress = Signal(int, int)
    """bytes sent, bytes to send (all files)"""
    running_changed = Signal(bool)
    finished = Signal(object)
    """the new :class:`~shared.protocol.Revision`"""
    failed = Signal(str)
    cancelled = Signal()

    def __init__(
        self, session: Session, *, project: str, version: str, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._session = session
        self.project = project
        self.version = version
        self.message = ""
        self._items: list[UploadItem] = []
        self._task: asyncio.Task[Revision] | None = None

    @property
    def items(self) -> list[UploadItem]:
        return list(self._items)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def total(self) -> int:
        return sum(item.size for item in self._items)

    @property
    def sent(self) -> int:
        return sum(min(item.sent, item.size) for item in self._items)

    def add_files(self, paths: list[Path]) -> list[str]:
        """Add files to the list; returns a problem per file refused (not a file, same name…)."""
        problems = []
        for path in paths:
            try:
                self._items.append(self._item(path))
            except ValidationError as exc:
                problems.append(exc.diagnostics())
        self.files_changed.emit()
        return problems

    def _item(self, path: Path) -> UploadItem:
        if self.running:
            raise ValidationError("files cannot be added while an upload runs")
        name = check_relpath(path.name)
        if any(item.name == name for item in self._items):
            raise ValidationError(f"a file named {name!r} is already in the list")
        try:
            info = path.stat()
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not path.is_file():
            raise ValidationError(f"{path} is not a regular file")
        return UploadItem(path=path, name=name, size=info.st_size)

    def remove(self, rows: list[int]) -> None:
        if self.running:
            return
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self._items):
                del self._items[row]
        self.files_changed.emit()

    def start(self) -> asyncio.Task[Revision]:
        """Upload every file; progress comes as :attr:`file_progress` / :attr:`overall_progress`."""
        if self.running:
            raise ValidationError("an upload is already running")
        if not self._items:
            raise ValidationError("choose at least one file to upload")
        for item in self._items:
            item.sent = 0
        self._session.upload_progress.connect(self._on_progress)
        self._task = self._session.upload(
            self.project,
            self.version,
            [item.path for item in self._items],
            names=[item.name for item in self._items],
            message=self.message,
        )
        self._task.add_done_callback(self._on_done)
        self.running_changed.emit(True)
        self.overall_progress.emit(0, self.total)
        return self._task

    def cancel(self) -> None:
        """Stop the upload; no revision is created."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _on_progress(self, name: str, sent: int, total: int) -> None:
        for row, item in enumerate(self._items):
            if item.name == name:
                item.sent = sent
                self.file_progress.emit(row, sent, total)
                self.overall_progress.emit(self.sent, self.total)
                return

    def _on_done(self, task: asyncio.Task[Revision]) -> None:
        self._session.upload_progress.disconnect(self._on_progress)
        self.running_changed.emit(False)
        if task.cancelled():
            self.cancelled.emit()
            return
        error = task.exception()
        if error is not None:
            self.failed.emit(describe_error(error))
            return
        self.finished.emit(task.result())
