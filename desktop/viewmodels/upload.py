"""The upload flow: pick files, send them into one new revision, follow progress, cancel.

With :attr:`UploadViewModel.sign_first`, every artifact is first signed on this
computer with the login key — ``<name>.asc`` and ``<name>.sha512`` written beside it
by :meth:`desktop.keystore.Keystore.sign_file` in a worker thread, streamed, with
progress — and those files join the upload.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop.qtsignals import disconnect
from desktop.session import Session, describe_error
from desktop.signing import SignedArtifact, is_signature_or_checksum
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
    stage_changed = Signal(str)
    """``signing`` (artifacts being signed here) or ``uploading``"""

    def __init__(
        self, session: Session, *, project: str, version: str, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._session = session
        self.project = project
        self.version = version
        self.message = ""
        self.sign_first = False
        """Sign and checksum every artifact with the login key before uploading."""
        self._items: list[UploadItem] = []
        self._task: asyncio.Task[Revision] | None = None
        self._cancel_signing = threading.Event()

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

    @property
    def signing_key(self) -> str | None:
        """The fingerprint artifacts are signed with: the key the user logged in with."""
        return self._session.key_fingerprint

    @property
    def can_sign(self) -> bool:
        return self.signing_key is not None

    def needs_passphrase(self) -> bool:
        """Whether signing must ask for the key's passphrase (none remembered)."""
        key = self.signing_key
        return key is not None and self._session.keystore.needs_passphrase(key)

    def artifacts(self) -> list[UploadItem]:
        """The files to sign: every one that is not itself a signature or checksum."""
        return [item for item in self._items if not is_signature_or_checksum(item.name)]

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

    def start(self, *, passphrase: str | None = None) -> asyncio.Task[Revision]:
        """Upload every file (signing the artifacts first with :attr:`sign_first`); progress
        comes as :attr:`file_progress` / :attr:`overall_progress`."""
        if self.running:
            raise ValidationError("an upload is already running")
        if not self._items:
            raise ValidationError("choose at least one file to upload")
        if self.sign_first and not self.artifacts():
            raise ValidationError("there is no artifact to sign (only signatures and checksums)")
        self._cancel_signing.clear()
        self._task = asyncio.ensure_future(self._run(passphrase))
        self._task.add_done_callback(self._on_done)
        self.running_changed.emit(True)
        return self._task

    async def _run(self, passphrase: str | None) -> Revision:
        if self.sign_first:
            await self._sign_artifacts(passphrase)
        self.stage_changed.emit("uploading")
        for item in self._items:
            item.sent = 0
        self.overall_progress.emit(0, self.total)
        progress = self._session.upload_progress.connect(self._on_progress)
        try:
            return await self._session.upload(
                self.project,
                self.version,
                [item.path for item in self._items],
                names=[item.name for item in self._items],
                message=self.message,
            )
        finally:
            disconnect(progress)

    async def _sign_artifacts(self, passphrase: str | None) -> None:
        """Sign each artifact in a worker thread; add its ``.asc`` and ``.sha512`` to the list."""
        fingerprint = self.signing_key
        if fingerprint is None:
            raise ValidationError("log in with a key to sign the artifacts")
        self.stage_changed.emit("signing")
        loop = asyncio.get_running_loop()
        artifacts = self.artifacts()
        total = sum(item.size for item in artifacts)
        done_before = 0
        signed: list[SignedArtifact] = []
        for item in artifacts:
            row = self._items.index(item)

            def report(done: int, size: int, row: int = row, base: int = done_before) -> None:
                loop.call_soon_threadsafe(self._signing_progress, row, done, size, base, total)

            try:
                signed.append(
                    await asyncio.to_thread(
                        self._session.keystore.sign_file,
                        fingerprint,
                        item.path,
                        passphrase=passphrase,
                        progress=report,
                        cancel=self._cancel_signing,
                    )
                )
            except asyncio.CancelledError:
                self._cancel_signing.set()  # the thread stops at its next chunk
                raise
            done_before += item.size
        for result in signed:
            self._replace(result.signature)
            self._replace(result.checksum)
        self.files_changed.emit()

    def _signing_progress(self, row: int, done: int, size: int, base: int, total: int) -> None:
        self.file_progress.emit(row, done, size)
        self.overall_progress.emit(base + done, total)

    def _replace(self, path: Path) -> None:
        """Put ``path`` in the list, replacing an item of the same name."""
        self._items = [item for item in self._items if item.name != path.name]
        self._items.append(UploadItem(path=path, name=path.name, size=path.stat().st_size))

    def cancel(self) -> None:
        """Stop signing or uploading; no revision is created."""
        self._cancel_signing.set()
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
        self.running_changed.emit(False)
        if task.cancelled():
            self.cancelled.emit()
            return
        error = task.exception()
        if error is not None:
            self.failed.emit(describe_error(error))
            return
        self.finished.emit(task.result())
