"""The keys screen's state and actions: my keys, a project's keys, publish, revoke, export.

Local crypto (exporting through GnuPG, making a revocation) runs in worker
threads; talking to the agent goes through the session. Every step is a job whose
failure is emitted as :attr:`KeysViewModel.failed`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop.errors import DesktopError
from desktop.keystore import REVOCATION_REASONS, RevocationReasonName, StoredKey
from desktop.models.keys import MyKeysModel, ProjectKeysModel
from desktop.session import Session
from desktop.viewmodels.main import role_for
from desktop.viewmodels.steps import StepViewModel
from shared.errors import AtrError
from shared.protocol import Project, Role
from shared.protocol.keys import ProjectKeyOut


class KeysViewModel(StepViewModel):
    """Everything the keys screen shows and can do."""

    projects_changed = Signal(list)
    """project keys (``list[str]``) the user may publish to"""
    project_changed = Signal(str)
    """the project whose keys are shown"""
    message = Signal(str)
    """a passing note about something done"""

    def __init__(
        self,
        session: Session,
        *,
        projects: list[Project] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.my_keys = MyKeysModel(self)
        self.project_keys = ProjectKeysModel(self)
        self._projects: dict[str, Project] = {}
        self._project: str | None = None
        session.projects_changed.connect(self._on_projects)
        session.project_keys_changed.connect(self._on_project_keys)
        session.logged_in.connect(lambda _user: self.reload_my_keys())
        self.reload_my_keys()
        if projects:
            self._on_projects(projects)

    # --- what the screen reads ------------------------------------------------------------------

    @property
    def project(self) -> str | None:
        return self._project

    def projects(self) -> list[str]:
        """The projects the user is a committer (or more) of, sorted."""
        return sorted(
            key
            for key, project in self._projects.items()
            if role_for(self.session.user, project).rank >= Role.COMMITTER.rank
        )

    @property
    def keys_url(self) -> str | None:
        """The public URL of the shown project's KEYS file."""
        if self._project is None or self.session.url is None:
            return None
        return f"{self.session.url.rstrip('/')}/projects/{self._project}/KEYS"

    def key(self, fingerprint: str) -> StoredKey:
        return self.session.keystore.get(fingerprint)

    def needs_passphrase(self, fingerprint: str) -> bool:
        try:
            return self.session.keystore.needs_passphrase(fingerprint)
        except AtrError:
            return False

    def published(self, fingerprint: str) -> ProjectKeyOut | None:
        """The shown project's entry for this key, if it is published there."""
        return self.project_keys.find(fingerprint)

    def publish_problem(self, fingerprint: str | None) -> str:
        """Why the key cannot be published to the shown project ("" when it can)."""
        if fingerprint is None:
            return "select one of your keys"
        if self._project is None:
            return "choose a project"
        if self.key(fingerprint).revoked:
            return "the key is revoked"
        entry = self.published(fingerprint)
        if entry is not None and entry.state != "expiring":
            return f"already in the KEYS of {self._project}"
        return ""

    def revoke_problem(self, fingerprint: str | None) -> str:
        """Why the key cannot be revoked ("" when it can)."""
        if fingerprint is None:
            return "select one of your keys"
        if self.key(fingerprint).revoked:
            return "the key is revoked already"
        return ""

    # --- actions --------------------------------------------------------------------------------

    def reload_my_keys(self) -> None:
        """Read the keystore again (keys added elsewhere, a revocation made)."""
        self.my_keys.set_keys(self.session.keystore.list_keys(), login=self.session.key_fingerprint)
        self._update_published()

    def select_project(self, project: str | None) -> None:
        """Show a project's keys (loaded from the agent and kept fresh by its key events)."""
        if project == self._project:
            return
        self._project = project
        self.project_keys.set_keys(project, [])
        self._update_published()
        if project is not None:
            self.session.load_project_keys(project)
        self.project_changed.emit(project or "")

    def refresh(self) -> None:
        """Reload my keys, the shown project's keys (and the projects, if none are known)."""
        if not self._projects and self.session.user is not None:
            self.session.refresh_projects()
        self.reload_my_keys()
        if self._project is not None:
            self.session.load_project_keys(self._project)

    def publish(self, fingerprint: str) -> asyncio.Task[ProjectKeyOut]:
        """Publish the public half of one of my keys to the shown project's KEYS."""
        project = self._project

        async def run() -> ProjectKeyOut:
            problem = self.publish_problem(fingerprint)
            if problem or project is None:
                raise DesktopError(f"cannot publish this key: {problem}")
            armored = await asyncio.to_thread(self.session.keystore.export_public, fingerprint)
            added = await self.session.publish_key(project, armored)
            self.message.emit(f"Key {fingerprint[-16:]} published to the KEYS of {project}")
            return added

        return self._start(run(), f"Publishing to {project}…")

    def revoke(
        self,
        fingerprint: str,
        *,
        reason: RevocationReasonName,
        comment: str = "",
        passphrase: str | None = None,
    ) -> asyncio.Task[list[str]]:
        """Revoke one of my keys: the revocation is made here, kept beside the key, and sent
        to every project of mine whose KEYS hold the key. Answers those projects."""

        async def run() -> list[str]:
            problem = self.revoke_problem(fingerprint)
            if problem:
                raise DesktopError(f"cannot revoke this key: {problem}")
            armored = await asyncio.to_thread(
                self.session.keystore.revoke,
                fingerprint,
                reason=reason,
                comment=comment,
                passphrase=passphrase,
            )
            self.reload_my_keys()
            text = REVOCATION_REASONS[reason] + (f": {comment.strip()}" if comment.strip() else "")
            sent = await self._send_revocation(fingerprint, armored, text)
            where = ", ".join(sent) if sent else "no project's KEYS (it was not published)"
            self.message.emit(f"Key {fingerprint[-16:]} revoked; revocation sent to {where}")
            return sent

        return self._start(run(), "Revoking…")

    async def _send_revocation(self, fingerprint: str, armored: str, reason: str) -> list[str]:
        sent = []
        for project in self.projects():
            keys = await self.session.project_keys(project)
            entry = next((k for k in keys if k.fingerprint == fingerprint), None)
            if entry is None or entry.state == "revoked":
                continue
            await self.session.revoke_key(project, armored, reason=reason)
            sent.append(project)
        return sent

    def send_revocation_again(self, fingerprint: str) -> asyncio.Task[list[str]]:
        """Send a revocation made earlier to the projects whose KEYS still show the key valid."""

        async def run() -> list[str]:
            armored = self.session.keystore.revocation(fingerprint)
            if armored is None:
                raise DesktopError("this key was not revoked from this computer")
            sent = await self._send_revocation(fingerprint, armored, "revoked by its owner")
            self.message.emit(
                f"Revocation sent to {', '.join(sent)}" if sent else "Every KEYS is up to date"
            )
            return sent

        return self._start(run(), "Sending the revocation…")

    def export_public(self, fingerprint: str, path: Path) -> asyncio.Task[Path]:
        """Write the armored public key to ``path``."""

        async def run() -> Path:
            armored = await asyncio.to_thread(self.session.keystore.export_public, fingerprint)
            await asyncio.to_thread(_write_text, path, armored)
            self.message.emit(f"Public key written to {path}")
            return path

        return self._start(run(), "Exporting the public key…")

    def export_secret(
        self, fingerprint: str, path: Path, *, passphrase: str | None = None
    ) -> asyncio.Task[Path]:
        """Write the passphrase-protected secret key to ``path`` (mode 0600)."""

        async def run() -> Path:
            await asyncio.to_thread(
                self.session.keystore.export_secret_to, fingerprint, path, passphrase=passphrase
            )
            self.message.emit(f"Protected secret key written to {path}")
            return path

        return self._start(run(), "Exporting the secret key…")

    def gnupg_keys(self, home: Path | None = None) -> list[StoredKey]:
        """The keys GnuPG can sign with (in ``home``, default GnuPG's own). Quick; may raise."""
        known = {k.fingerprint for k in self.session.keystore.list_keys()}
        return [k for k in self.session.keystore.gnupg_keys(home) if k.fingerprint not in known]

    def add_gnupg_key(self, fingerprint: str, home: Path | None = None) -> asyncio.Task[StoredKey]:
        """Sign with a key of the user's GnuPG keyring from now on (the secret stays there)."""

        async def run() -> StoredKey:
            key = await asyncio.to_thread(
                self.session.keystore.add_gnupg_key, fingerprint, home=home
            )
            self.reload_my_keys()
            self.message.emit(f"Using GnuPG's key {fingerprint[-16:]}")
            return key

        return self._start(run(), "Adding the GnuPG key…")

    def close(self) -> None:
        self._jobs.cancel_all()

    # --- internals ------------------------------------------------------------------------------

    def _on_projects(self, projects: list[Project]) -> None:
        self._projects = {p.key: p for p in projects}
        mine = self.projects()
        self.projects_changed.emit(mine)
        if self._project not in mine:
            self.select_project(mine[0] if mine else None)

    def _on_project_keys(self, project: str, keys: list[ProjectKeyOut]) -> None:
        if project == self._project:
            self.project_keys.set_keys(project, keys)
            self._update_published()

    def _update_published(self) -> None:
        project = self._project
        published = {}
        if project is not None:
            for entry in self.project_keys.entries():
                published[entry.fingerprint] = f"{project} ({entry.state})"
        self.my_keys.set_published(published)


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DesktopError(f"cannot write {path}: {exc.strerror or exc}") from exc
