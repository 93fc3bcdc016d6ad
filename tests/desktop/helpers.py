"""Helpers for desktop tests against a real agent: a keystore holding a seeded user's key,
and a recorder of everything a :class:`~desktop.session.Session` emits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop.keystore import Keystore
from desktop.session import Session
from shared.protocol import Event, EventKind, Task
from tests.support.agent import AgentUser

PASSPHRASE = "correct horse battery staple"


def keystore_for(user: AgentUser, home: Path) -> tuple[Keystore, str]:
    """A keystore in ``home`` with ``user``'s secret key imported (protected by PASSPHRASE)."""
    keystore = Keystore(home / "keys")
    key = keystore.import_armored(user.key.secret_armor, passphrase=PASSPHRASE)
    return keystore, key.fingerprint


class Recorder:
    """Keeps every signal a session emits, in order."""

    def __init__(self, session: Session) -> None:
        self.states: list[str] = []
        self.projects: list[list[Any]] = []
        self.releases: list[tuple[str, list[Any]]] = []
        self.release: list[Any] = []
        self.revisions: list[tuple[str, str, list[Any]]] = []
        self.tasks: list[tuple[str, str, list[Task]]] = []
        self.task: list[Task] = []
        self.events: list[Event] = []
        self.progress: list[tuple[str, int, int]] = []
        self.uploads: list[Any] = []
        self.errors: list[str] = []
        session.state_changed.connect(self.states.append)
        session.projects_changed.connect(self.projects.append)
        session.releases_changed.connect(lambda p, r: self.releases.append((p, r)))
        session.release_changed.connect(self.release.append)
        session.revisions_changed.connect(lambda p, v, r: self.revisions.append((p, v, r)))
        session.tasks_changed.connect(lambda p, v, t: self.tasks.append((p, v, t)))
        session.task_changed.connect(self.task.append)
        session.event_received.connect(self.events.append)
        session.upload_progress.connect(lambda n, s, t: self.progress.append((n, s, t)))
        session.upload_finished.connect(self.uploads.append)
        session.error.connect(self.errors.append)

    def task_events(self, task_id: int, kind: EventKind | None = None) -> list[Event]:
        return [e for e in self.events if e.task_id == task_id and (kind is None or e.kind is kind)]

    def finished(self, task_id: int) -> bool:
        return bool(self.task_events(task_id, EventKind.TASK_FINISHED))
