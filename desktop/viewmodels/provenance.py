"""The provenance screens' state: a release's attestations (verified here, not taken on the
agent's word), the agent's automation keys with their expiry, and the files the agent signed
for an OS that the release manager must sign again.

:class:`AttestationsViewModel` fetches a release's attestations and the agent's published
key file, then verifies every DSSE envelope on this computer (:mod:`shared.provenance`) in a
worker thread: the screen's "valid" is this computer's verdict. The selected attestation is
told as rows: the ballots of a vote, the checks of a release (with the ignore rules and
their reasons), who signed each artifact, and what the agent signed for Windows or macOS.

:class:`AutomationKeysViewModel` lists the agent's keys, says which expire within the alarm
window (30 days) and follows ``automation_key.*`` events; admins rotate and revoke from it.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.errors import DesktopError
from desktop.session import Session
from desktop.viewmodels.steps import StepViewModel
from desktop.viewmodels.upload import UploadViewModel
from shared.errors import AtrError
from shared.protocol import Event
from shared.protocol.provenance import (
    AttestationOut,
    AutomationKeyOut,
    CodesignOut,
    KeyGenerate,
    KeyRotate,
    ReleaseAttestations,
)
from shared.provenance.dsse import AttestationInvalid, verify_envelope
from shared.provenance.keys import PublishedKey, parse_published_keys

__all__ = [
    "ALARM_DAYS",
    "AttestationRow",
    "AttestationsViewModel",
    "AutomationKeysViewModel",
    "BallotRow",
    "CheckRow",
    "SignerRow",
]

ALARM_DAYS = 30
"""Keys expiring within this many days are flagged (the agent's default alarm window)."""
KIND_TITLES = {
    "release": "Release",
    "vote": "Vote",
    "slsa": "Build (SLSA)",
    "distribution": "Distribution",
    "codesign": "OS signature",
}


@dataclass(frozen=True, slots=True)
class AttestationRow:
    """One attestation as this computer verified it."""

    id: int
    kind: str
    trigger: str
    written_at: datetime
    key: str
    key_state: str
    valid: bool
    verdict: str
    """"valid" or why not, in a sentence"""
    statement: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return KIND_TITLES.get(self.kind, self.kind)


@dataclass(frozen=True, slots=True)
class BallotRow:
    round: str
    voter: str
    value: str
    binding: bool
    source: str
    fingerprint: str
    superseded: bool


@dataclass(frozen=True, slots=True)
class CheckRow:
    check: str
    version: int
    artifact: str
    blocker: int
    warning: int
    note: int
    passed: int


@dataclass(frozen=True, slots=True)
class SignerRow:
    artifact: str
    signer: str
    fingerprint: str
    standing: str


def _verify(out: AttestationOut, keys: list[PublishedKey]) -> AttestationRow:
    try:
        verified = verify_envelope(out.envelope, keys)
    except (AttestationInvalid, AtrError) as exc:
        return AttestationRow(out.id, out.kind, out.trigger, out.written_at, out.key_fingerprint,
                              out.key_state, False, exc.message)  # fmt: skip
    key = verified.key
    if key.revoked:
        verdict, valid = (
            f"INVALID: signed by a revoked key ({key.reason or 'no reason given'})",
            False,
        )
    elif key.state == "retired":
        verdict, valid = "valid (signed by a retired key)", True
    else:
        verdict, valid = "valid", True
    return AttestationRow(out.id, out.kind, out.trigger, out.written_at, key.fingerprint,
                          key.state, valid, verdict, verified.statement)  # fmt: skip


def verify_all(found: ReleaseAttestations, keys_pem: str) -> list[AttestationRow]:
    """Every attestation of ``found`` verified against the published key file ``keys_pem``."""
    try:
        keys = parse_published_keys(keys_pem)
    except AtrError as exc:
        return [
            AttestationRow(a.id, a.kind, a.trigger, a.written_at, a.key_fingerprint,
                           a.key_state, False, f"cannot read the agent's keys: {exc.message}")
            for a in found.attestations
        ]  # fmt: skip
    return [_verify(a, keys) for a in found.attestations]


class AttestationsViewModel(StepViewModel):
    """A release's attestations and code-signing runs (see the module docstring)."""

    changed = Signal()
    selection_changed = Signal()

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.project: str | None = None
        self.version: str | None = None
        self.rows: list[AttestationRow] = []
        self.runs: list[CodesignOut] = []
        self.bundle_name = ""
        self.bundle_url = ""
        self.distributed = False
        self.pending = False
        self._selected: int | None = None
        self._seen = 0
        """the last event id when the release was loaded (older events are replays)"""
        self._dirty = False
        session.event_received.connect(self._on_event)

    # --- loading --------------------------------------------------------------------------------

    def load(self, project: str, version: str) -> asyncio.Task[None]:
        self.project, self.version = project, version
        self._seen = self.session.last_event_id or 0
        return self._start(self._load(project, version), f"verifying {project} {version}")

    def refresh(self) -> None:
        if self.project is not None and self.version is not None:
            self.load(self.project, self.version)

    async def _load(self, project: str, version: str) -> None:
        found = await self.session.attestations(project, version)
        keys_pem = await self.session.published_keys_pem()
        runs = await self.session.codesign_runs(project, version)
        rows = await asyncio.to_thread(verify_all, found, keys_pem)
        self.rows, self.runs = rows, runs
        self.bundle_name, self.bundle_url = found.bundle_name, found.bundle_url
        self.distributed, self.pending = found.distributed, found.pending
        if self._selected is None or self._selected >= len(rows):
            self._selected = 0 if rows else None
        self.changed.emit()
        self.selection_changed.emit()

    def _on_event(self, event: Event) -> None:
        """Live events of the release on screen reload it (after the step under way); replayed
        ones (older than the load) change nothing."""
        if (event.project, event.version) != (self.project, self.version):
            return
        if event.id <= self._seen:
            return
        if event.kind in ("attestation.written", "codesign.finished"):
            if self.busy:
                self._dirty = True
            else:
                self.refresh()

    def _step_finished(self) -> None:
        if self._dirty:
            self._dirty = False
            self.refresh()

    # --- what the screen reads ------------------------------------------------------------------

    @property
    def summary(self) -> str:
        if not self.rows:
            if self.pending:
                return "The attestations are being written."
            return "No attestations yet: the agent writes them when the vote passes."
        valid = sum(1 for r in self.rows if r.valid)
        where = " · distributed with the release" if self.distributed else ""
        return (
            f"{valid} of {len(self.rows)} attestations verify on this computer against the "
            f"agent's published keys{where}"
        )

    def select(self, row: int) -> None:
        self._selected = row if 0 <= row < len(self.rows) else None
        self.selection_changed.emit()

    @property
    def selected(self) -> AttestationRow | None:
        return self.rows[self._selected] if self._selected is not None else None

    def _predicate(self, kind: str) -> dict[str, Any]:
        chosen = self.selected
        if chosen is not None and chosen.kind == kind:
            return dict(chosen.statement.get("predicate", {}))
        for row in self.rows:
            if row.kind == kind and row.valid:
                return dict(row.statement.get("predicate", {}))
        return {}

    def ballots(self) -> list[BallotRow]:
        """Who voted, as the (selected or valid) vote attestation says."""
        out = []
        for vote_round in self._predicate("vote").get("rounds", []):
            for b in vote_round.get("ballots", []):
                out.append(
                    BallotRow(
                        round=str(vote_round.get("round", "")),
                        voter=str(b.get("voter", "")),
                        value=str(b.get("value", "")),
                        binding=bool(b.get("binding")),
                        source=str(b.get("source", "")),
                        fingerprint=str(b.get("fingerprint") or ""),
                        superseded=bool(b.get("superseded")),
                    )
                )
        return out

    def vote_outcome(self) -> str:
        predicate = self._predicate("vote")
        rounds = predicate.get("rounds", [])
        if not rounds:
            return ""
        last = rounds[-1]
        return f"{predicate.get('outcome', '')}: {last.get('reason') or ''}".strip(": ")

    def checks(self) -> list[CheckRow]:
        """Which checks ran, with their result counts, as the release attestation says."""
        runs = self._predicate("release").get("checks", {}).get("runs", [])
        return [
            CheckRow(
                check=str(r.get("id", "")),
                version=int(r.get("version", 0)),
                artifact=str(r.get("artifact") or "(release)"),
                blocker=int(r.get("results", {}).get("blocker", 0)),
                warning=int(r.get("results", {}).get("warning", 0)),
                note=int(r.get("results", {}).get("note", 0)),
                passed=int(r.get("results", {}).get("pass", 0)),
            )
            for r in runs
        ]

    def ignored(self) -> list[str]:
        """The ignore rules applied, each with its reason."""
        items = self._predicate("release").get("checks", {}).get("ignored", [])
        return [
            f"{i.get('check')} on {i.get('path')}: {i.get('originalStatus')} ignored "
            f"(rule {i.get('rule')}: {i.get('reason')})"
            for i in items
        ]

    def signers(self) -> list[SignerRow]:
        out = []
        for artifact in self._predicate("release").get("artifacts", []):
            for s in artifact.get("signers", []) or [{}]:
                out.append(
                    SignerRow(
                        artifact=str(artifact.get("name", "")),
                        signer=str(s.get("userId") or "no OpenPGP signature"),
                        fingerprint=str(s.get("fingerprint") or ""),
                        standing=str(s.get("keys") or ""),
                    )
                )
        return out

    def resign_run(self) -> CodesignOut | None:
        """The latest finished code-signing run whose files need the RM's signature again."""
        done = [r for r in self.runs if r.state == "done" and r.resign]
        return done[-1] if done else None

    def resign(self, run: CodesignOut) -> asyncio.Task[UploadViewModel]:
        """Download the files the agent signed (from the revision it made) and prepare their
        upload, signed here with the login key first (``.asc`` and ``.sha512``)."""

        async def prepare() -> UploadViewModel:
            if run.to_revision is None:
                raise DesktopError("the agent made no revision in this run")
            folder = Path(tempfile.mkdtemp(prefix="atr-resign-"))
            paths = await self.session.download_files(
                run.project, run.version, run.to_revision, run.resign, folder
            )
            upload = UploadViewModel(
                self.session, project=run.project, version=run.version, parent=self
            )
            upload.add_files(list(paths))
            upload.sign_first = True
            upload.message = (
                f"my OpenPGP signatures of the files the agent signed for {run.kind} "
                f"(revision {run.to_revision})"
            )
            return upload

        return self._start(prepare(), "downloading the files to sign")


class AutomationKeysViewModel(StepViewModel):
    """The agent's automation keys (see the module docstring)."""

    changed = Signal()
    alarm = Signal(str)
    """an ``automation_key.expiring`` event, told as a sentence"""

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.keys: list[AutomationKeyOut] = []
        self.alarms: list[str] = []
        self._seen = session.last_event_id or 0
        session.event_received.connect(self._on_event)

    @property
    def is_admin(self) -> bool:
        user = self.session.user
        return bool(user is not None and user.is_admin)

    def refresh(self) -> asyncio.Task[None]:
        return self._start(self._load(), "loading the agent's keys")

    async def _load(self) -> None:
        self.keys = await self.session.automation_keys()
        self.changed.emit()

    def _on_event(self, event: Event) -> None:
        if not event.kind.startswith("automation_key.") or event.id <= self._seen:
            return
        self._seen = event.id
        if event.kind == "automation_key.expiring":
            data = event.data
            when = (
                "has EXPIRED" if data.get("expired") else f"expires in {data.get('days_left')} days"
            )
            text = f"The agent's {data.get('use')} key {str(data.get('fingerprint'))[:16]}… {when}"
            self.alarms.append(text)
            self.alarm.emit(text)
        if not self.busy:
            self.refresh()

    def expiring(self) -> list[AutomationKeyOut]:
        """Keys in use (active or pending) that expire within :data:`ALARM_DAYS`."""
        return [
            k
            for k in self.keys
            if k.state in ("active", "pending")
            and k.expires_in_days is not None
            and k.expires_in_days <= ALARM_DAYS
        ]

    def warning(self) -> str:
        soon = self.expiring()
        if not soon:
            return ""
        parts = [
            f"{k.use} key {k.fingerprint[:16]}… "
            + (
                "has EXPIRED"
                if (k.expires_in_days or 0) < 0
                else f"expires in {k.expires_in_days} days"
            )
            for k in soon
        ]
        return "; ".join(parts) + " — an admin rotates it (Rotate…)"

    def generate_attestation_key(self) -> asyncio.Task[None]:
        async def run() -> None:
            await self.session.generate_automation_key(KeyGenerate(use="attestation"))
            await self._load()

        return self._start(run(), "making a new attestation key")

    def rotate(self, fingerprint: str) -> asyncio.Task[None]:
        async def run() -> None:
            await self.session.rotate_automation_key(
                fingerprint, KeyRotate(reason="from the desktop")
            )
            await self._load()

        return self._start(run(), f"rotating {fingerprint[:16]}…")

    def revoke(self, fingerprint: str, reason: str) -> asyncio.Task[None]:
        async def run() -> None:
            await self.session.revoke_automation_key(fingerprint, reason)
            await self._load()

        return self._start(run(), f"revoking {fingerprint[:16]}…")
