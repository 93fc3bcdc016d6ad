""" "Waiting for you": the steps of releases in progress that wait for the logged-in user.

The list comes from the agent (``GET /waiting``) and is reloaded when an event says a
release moved (a new revision, a phase change, a vote, a request to sign…). When a
trigger asks *this* user to sign what it built (``release.signatures_requested`` naming
them), :attr:`WaitingViewModel.notify` fires once with a sentence for a notification.

Each step has one action:

* ``sign`` — :meth:`WaitingViewModel.sign`: download the unsigned artifacts of the
  revision, check each against the SHA-512 the agent holds, sign them here with the login
  key (the agent never signs for a person) and upload the ``.asc`` files (and a
  ``.sha512`` where none was published) as the release's next revision;
* ``start_checks`` / ``start_vote`` / ``fix_failure`` — move the release on (to
  ``checks``, into its vote, back to ``compose``);
* ``cast_ballot`` — the votes screen (:attr:`open_votes`);
* anything else — the ``atr`` command that does it, to copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.errors import DesktopError
from desktop.session import Session
from desktop.viewmodels.steps import StepViewModel
from shared.lifecycle import Phase
from shared.protocol import Event, EventKind, Revision
from shared.protocol.triggers import WaitingItem

__all__ = ["ACTIONS", "WaitingViewModel", "action_of"]

RELOAD_MS = 300
_RELOADING_EVENTS = frozenset(
    {
        EventKind.SIGNATURES_REQUESTED,
        EventKind.REVISION_CREATED,
        EventKind.PHASE_CHANGED,
        EventKind.CHECKS_DONE,
        EventKind.VOTE_STARTED,
        EventKind.BALLOT_CAST,
        EventKind.VOTE_DECIDED,
        EventKind.DISTRIBUTION_SETTLED,
        EventKind.DISTRIBUTION_STEP,
        EventKind.RELEASE_ANNOUNCED,
    }
)


@dataclass(frozen=True, slots=True)
class Action:
    label: str
    tip: str


ACTIONS: dict[str, Action] = {
    "sign": Action("Sign…", "Download, check and sign the artifacts here, then upload the .asc"),
    "start_checks": Action("Ask for checks", "Move the release to 'checks'"),
    "fix_failure": Action("Back to compose", "Move the release back to 'compose'"),
    "start_vote": Action("Start the vote", "Start the vote (the agent mails the dev list)"),
    "cast_ballot": Action("Vote…", "Open the votes screen"),
}
COPY = Action("Copy command", "Copy the atr command that does this step")


def action_of(item: WaitingItem) -> Action:
    """The button a step gets."""
    return ACTIONS.get(item.step.kind, COPY)


class WaitingViewModel(StepViewModel):
    """The list and its actions (see the module docstring)."""

    items_changed = Signal(list)
    """``list[WaitingItem]``"""
    notify = Signal(str, str)
    """title, text: something new waits for you (a trigger asks you to sign)"""
    open_votes = Signal()
    copy_text = Signal(str)
    """text for the clipboard (the view puts it there)"""
    message = Signal(str)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._items: list[WaitingItem] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RELOAD_MS)
        self._timer.timeout.connect(self.refresh)
        self._notified: set[int] = set()
        session.event_received.connect(self._on_event)
        session.logged_in.connect(lambda _user: self.refresh())

    @property
    def items(self) -> list[WaitingItem]:
        return list(self._items)

    def _refresh_if_running(self) -> None:
        if _loop_running():
            self.refresh()

    def refresh(self) -> None:
        """Reload the list from the agent."""
        if self.session.user is None:
            return
        if not _loop_running():  # built before the loop runs, or called while it stops:
            QTimer.singleShot(0, self._refresh_if_running)  # once the loop runs, if it does
            return

        async def load() -> None:
            self._items = await self.session.waiting()
            self.items_changed.emit(self.items)

        self._jobs.start(load(), key="load")

    def _on_event(self, event: Event) -> None:
        if event.kind not in _RELOADING_EVENTS:
            return
        self._timer.start()
        user = self.session.user
        if (
            event.kind is EventKind.SIGNATURES_REQUESTED
            and user is not None
            and event.data.get("release_manager") == user.name
            and event.id not in self._notified
            and event.id > self.session.loaded_at  # news, not the backlog of the login
        ):
            self._notified.add(event.id)
            files = event.data.get("files") or []
            self.notify.emit(
                f"{event.project} {event.version}: your signature is needed",
                f"{len(files)} artifact(s) built by {event.data.get('source', 'a trigger')} "
                "wait for you to sign them on this computer.",
            )

    # --- actions ---------------------------------------------------------------------------------

    def act(self, item: WaitingItem, *, passphrase: str | None = None) -> None:
        """Do the step's action (see the module docstring)."""
        match item.step.kind:
            case "sign":
                self.sign(item, passphrase=passphrase)
            case "start_checks":
                self._move(item, Phase.CHECKS, "checks asked for from the desktop")
            case "fix_failure":
                self._move(item, Phase.COMPOSE, "a new round, from the desktop")
            case "start_vote":
                self._move(item, Phase.VOTE, "vote started from the desktop")
            case "cast_ballot":
                self.open_votes.emit()
            case _:
                self.copy_text.emit(item.step.command)
                self.message.emit(f"copied: {item.step.command}")

    def needs_passphrase(self) -> bool:
        key = self.session.key_fingerprint
        return key is not None and self.session.keystore.needs_passphrase(key)

    def _move(self, item: WaitingItem, to: Phase, reason: str) -> None:
        async def run() -> None:
            await self.session.transition(item.project, item.version, to, reason=reason)
            self.message.emit(f"{item.project} {item.version} moved to {to.value}")
            self.refresh()

        self._start(run(), f"moving {item.project} {item.version} to {to.value}")

    def sign(self, item: WaitingItem, *, passphrase: str | None = None) -> asyncio.Task[Revision]:
        """Sign the step's artifacts on this computer and upload the signatures."""
        return self._start(self._sign(item, passphrase), f"signing {item.project} {item.version}")

    async def _sign(self, item: WaitingItem, passphrase: str | None) -> Revision:
        fingerprint = self.session.key_fingerprint
        if fingerprint is None:
            raise DesktopError("log in with a key to sign", hint="File → Connect")
        number = int(item.step.args.get("revision", "0"))
        wanted = [p for p in item.step.args.get("files", "").split(",") if p]
        if not number or not wanted:
            raise DesktopError("the step names no revision or files to sign")
        revision = await self.session.revision(item.project, item.version, number)
        digests = {f.path: f.sha512 for f in revision.files}
        folder = Path(tempfile.mkdtemp(prefix="atr-sign-"))
        try:
            downloaded = await self.session.download_files(
                item.project, item.version, number, wanted, folder / "files"
            )
            out = folder / "signed"
            out.mkdir()
            uploads: list[Path] = []
            for path, name in zip(downloaded, wanted, strict=True):
                actual = await asyncio.to_thread(_sha512, path)
                if not secrets.compare_digest(actual, digests.get(name, "")):
                    raise DesktopError(
                        f"{name} as downloaded does not have the SHA-512 the agent holds",
                        hint="nothing was signed; try again, and tell the agent's operator",
                    )
                signed = await asyncio.to_thread(
                    self.session.keystore.sign_file,
                    fingerprint,
                    path,
                    passphrase=passphrase,
                    out_dir=out,
                )
                uploads.append(signed.signature)
                if f"{name}.sha512" not in digests:
                    uploads.append(signed.checksum)
            names = [
                str(Path(name).parent / p.name) if "/" in name else p.name
                for name, p in _pairs(wanted, uploads)
            ]
            new = await self.session.upload(
                item.project,
                item.version,
                uploads,
                names=names,
                message=f"signatures of revision {number}, made on the release manager's desktop",
            )
            self.message.emit(
                f"{item.project} {item.version}: {len(wanted)} artifact(s) signed; "
                f"revision {new.number} holds the signatures"
            )
            self.refresh()
            return new
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _pairs(wanted: list[str], uploads: list[Path]) -> list[tuple[str, Path]]:
    """Each upload with the artifact it belongs to (its name starts with the artifact's)."""
    out = []
    for path in uploads:
        owner = next((w for w in wanted if path.name.startswith(Path(w).name + ".")), path.name)
        out.append((owner, path))
    return out


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
