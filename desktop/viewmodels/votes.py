"""The votes screen's state and actions: the votes of the user's projects (open ones, and the
passed, failed and cancelled ones with their tally and ballots), the live tally, verify the
candidate here, then sign and cast a ballot.

A +1 is offered only after the candidate was downloaded and verified on this
computer (:mod:`desktop.verify`) for the revision under vote, and every file
passed; 0 and -1 are always possible. The ballot names the SHA-512 of each
artifact computed here, is clear-signed with the key the user logged in with
(in a worker thread) and cast through the session.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QObject, Signal

from desktop.errors import DesktopError
from desktop.models.votes import BallotsModel, VerificationModel, VotesModel, is_open
from desktop.paths import data_dir
from desktop.session import Session
from desktop.verify import FileCheck, Verification, file_kind, verify_candidate
from desktop.viewmodels.steps import StepViewModel
from shared.protocol import Project, RevisionFile, Role
from shared.protocol.votes import BallotContent, BallotOut, BallotValue, VoteOut
from shared.votes import ballot_text

INCUBATOR = "incubator"
VoteFilter = Literal["open", "decided", "all"]
"""Which votes the list shows: the open ones, the decided ones (passed, failed, cancelled)."""


@dataclass(frozen=True, slots=True)
class Verified:
    """A verification and what it verified."""

    vote_id: int
    revision: int
    files: list[RevisionFile]
    result: Verification
    folder: Path


def candidates_dir() -> Path:
    """Where candidates are downloaded: ``<data dir>/candidates``."""
    return data_dir() / "candidates"


class VotesViewModel(StepViewModel):
    """Everything the votes screen shows and can do."""

    vote_shown = Signal(object)
    """the :class:`VoteOut` on screen (or ``None``), after every change"""
    verification_changed = Signal(object)
    """the :class:`Verification` of the vote on screen, or ``None``"""
    stage_changed = Signal(str, int, int)
    """``downloading`` / ``verifying`` / ``""`` (idle), bytes done, bytes in all"""
    ballot_cast = Signal(object)
    """the :class:`BallotOut` the agent recorded"""
    message = Signal(str)

    def __init__(
        self,
        session: Session,
        *,
        projects: list[Project] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.votes = VotesModel(self)
        self.ballots = BallotsModel(self)
        self.files = VerificationModel(self)
        self._projects: dict[str, Project] = {p.key: p for p in projects or []}
        self._vote: VoteOut | None = None
        self._all: list[VoteOut] = []
        self._filter: VoteFilter = "all"
        self._verified: Verified | None = None
        self._cancel = threading.Event()
        self._progress: dict[str, tuple[int, int]] = {}
        session.projects_changed.connect(self._on_projects)
        session.votes_changed.connect(self._on_votes)
        session.vote_changed.connect(self._on_vote)

    # --- what the screen reads ------------------------------------------------------------------

    @property
    def vote(self) -> VoteOut | None:
        return self._vote

    @property
    def vote_filter(self) -> VoteFilter:
        return self._filter

    @property
    def my_ballot(self) -> BallotOut | None:
        """The user's ballot that counts in the vote on screen (their last), if they voted."""
        user, vote = self.session.user, self._vote
        if user is None or vote is None:
            return None
        mine = [b for b in vote.ballots if b.voter == user.name and not b.superseded]
        return max(mine, key=lambda b: b.cast_at) if mine else None

    @property
    def verification(self) -> Verification | None:
        """The verification of the revision under vote (``None`` before one, or if stale)."""
        verified = self._verified
        vote = self._vote
        if verified is None or vote is None:
            return None
        if (verified.vote_id, verified.revision) != (vote.id, vote.revision):
            return None
        return verified.result

    @property
    def download_folder(self) -> Path | None:
        return self._verified.folder if self._verified else None

    def mine(self, vote: VoteOut) -> bool:
        """Whether the vote is of one of the user's projects (or the user is an admin)."""
        user = self.session.user
        if user is None:
            return False
        if user.is_admin:
            return True
        project = self._projects.get(vote.project)
        committees = {m.committee for m in user.memberships}
        return (project is not None and project.committee in committees) or (
            vote.round == "incubator" and INCUBATOR in committees
        )

    @property
    def binding(self) -> bool:
        """Whether the user's ballot on the vote on screen would be binding (PMC member of the
        project's committee; of the Incubator for an Incubator round)."""
        user, vote = self.session.user, self._vote
        if user is None or vote is None:
            return False
        project = self._projects.get(vote.project)
        committee = INCUBATOR if vote.round == "incubator" else (project and project.committee)
        return any(m.committee == committee and m.role is Role.PMC for m in user.memberships)

    def cast_problem(self, value: BallotValue) -> str:
        """Why a ballot of ``value`` cannot be cast now ("" when it can)."""
        vote = self._vote
        problems = [
            (vote is None, "choose a vote"),
            (vote is not None and vote.tally.outcome != "open",
             f"the vote is {vote.tally.outcome if vote else ''}"),
            (self.session.key_fingerprint is None, "log in with your key to sign a ballot"),
            (bool(self._busy), self._busy),
        ]  # fmt: skip
        if value == "+1":
            verification = self.verification
            problems += [
                (verification is None, "verify the candidate on this computer first"),
                (verification is not None and not verification.ok,
                 "the candidate failed verification here"),
            ]  # fmt: skip
        return next((text for failed, text in problems if failed), "")

    def needs_passphrase(self) -> bool:
        key = self.session.key_fingerprint
        return key is not None and self.session.keystore.needs_passphrase(key)

    # --- actions --------------------------------------------------------------------------------

    def set_filter(self, which: VoteFilter) -> None:
        """Show the open votes, the decided ones, or all of them."""
        self._filter = which
        self._show_list()

    def refresh(self) -> None:
        """Reload the votes (and the projects, if none are known yet)."""
        if not self._projects and self.session.user is not None:
            self.session.refresh_projects()
        self.session.load_votes()
        if self._vote is not None:
            self.session.watch_vote(self._vote.project, self._vote.version)

    def select(self, project: str | None, version: str | None = None) -> None:
        """Show the release's latest vote (kept fresh by ``vote.*`` events)."""
        if project is None or version is None:
            self._vote = None
            self.session.watch_vote(None)
            self.ballots.set_ballots([])
            self._show_verification()
            self.vote_shown.emit(None)
            return
        row = self.votes.row_of(project, version)
        if row >= 0:
            self._set_vote(self.votes.vote_at(row))
        self.session.watch_vote(project, version)

    def select_vote(self, vote: VoteOut) -> None:
        """Show one vote of the list: an open one is kept fresh by ``vote.*`` events; a decided
        one (perhaps an earlier round of a release voted on again) is shown as it ended."""
        self._set_vote(vote)
        if is_open(vote):
            self.session.watch_vote(vote.project, vote.version)
        else:
            self.session.watch_vote(None)

    def verify(self) -> asyncio.Task[Verification]:
        """Download every file of the revision under vote and verify it here."""
        vote = self._vote

        async def run() -> Verification:
            if vote is None:
                raise DesktopError("choose a vote to verify its candidate")
            revision = await self.session.revision(vote.project, vote.version, vote.revision)
            keys_file = await self.session.keys_file(vote.project)
            folder = candidates_dir() / vote.project / vote.version / f"r{vote.revision}"
            files = revision.files
            self.files.set_pending(
                [FileCheck(path=f.path, kind=file_kind(f.path), size=f.size) for f in files]
            )
            total = sum(f.size for f in files)
            self._progress = {}
            self.stage_changed.emit("downloading", 0, total)
            await self.session.download_files(
                vote.project,
                vote.version,
                vote.revision,
                [f.path for f in files],
                folder,
                progress=lambda path, done, _t: self._on_progress("downloading", path, done, total),
            )
            self._progress = {}
            self.stage_changed.emit("verifying", 0, total)
            loop = asyncio.get_running_loop()

            def report(path: str, done: int, size: int) -> None:
                loop.call_soon_threadsafe(self._on_verify_progress, path, done, size, total)

            self._cancel.clear()
            try:
                result = await asyncio.to_thread(
                    verify_candidate, folder, files, keys_file, progress=report, cancel=self._cancel
                )
            except asyncio.CancelledError:
                self._cancel.set()
                raise
            self._verified = Verified(vote.id, vote.revision, list(files), result, folder)
            self._show_verification()
            self.message.emit(_summary(result))
            return result

        task = self._start(run(), "Downloading and verifying the candidate…")
        task.add_done_callback(lambda _t: self.stage_changed.emit("", 0, 0))
        return task

    def cast(
        self, value: BallotValue, *, comment: str = "", passphrase: str | None = None
    ) -> asyncio.Task[BallotOut]:
        """Clear-sign a ballot with the login key and cast it."""
        vote = self._vote
        problem = self.cast_problem(value)  # now: once started, the step itself is "busy"

        async def run() -> BallotOut:
            if problem or vote is None:
                raise DesktopError(f"cannot cast {value}: {problem}")
            fingerprint = self.session.key_fingerprint
            if fingerprint is None:  # checked by cast_problem; keeps the type checker sure
                raise DesktopError("log in with your key to sign a ballot")
            verification = self.verification
            content = BallotContent(
                project=vote.project,
                version=vote.version,
                revision=vote.revision,
                value=value,
                reviewed=verification.reviewed if verification is not None else {},
                comment=comment.strip(),
                binding=True if self.binding else None,
            )
            signed = await asyncio.to_thread(
                self.session.keystore.clearsign,
                fingerprint,
                ballot_text(content),
                passphrase=passphrase,
            )
            ballot = await self.session.cast_ballot(vote.project, vote.version, signed)
            kind = "binding" if ballot.binding else "non-binding"
            self.message.emit(f"Your {kind} {ballot.value} on {vote.project} {vote.version} counts")
            self.ballot_cast.emit(ballot)
            return ballot

        return self._start(run(), f"Signing and casting {value}…")

    def cancel(self) -> None:
        self._cancel.set()
        self._jobs.cancel_all()

    # --- session signals ------------------------------------------------------------------------

    def _on_projects(self, projects: list[Project]) -> None:
        self._projects = {p.key: p for p in projects}
        self.session.load_votes()  # which votes are "mine" depends on them

    def _on_votes(self, votes: list[VoteOut]) -> None:
        self._all = [v for v in votes if self.mine(v)]
        self._show_list()
        shown = self._vote
        if shown is not None:
            row = self.votes.row_of_id(shown.id)
            if row >= 0:
                self._set_vote(self.votes.vote_at(row))

    def _show_list(self) -> None:
        which = self._filter
        self.votes.set_votes(
            [v for v in self._all if which == "all" or (which == "open") == is_open(v)]
        )

    def _on_vote(self, vote: VoteOut) -> None:
        if self.mine(vote):
            self._all = [v for v in self._all if v.id != vote.id] + [vote]
            if self._filter == "all" or (self._filter == "open") == is_open(vote):
                self.votes.update_vote(vote)
        shown = self._vote
        if (
            shown is None
            or shown.id == vote.id
            or (is_open(vote) and (shown.project, shown.version) == (vote.project, vote.version))
        ):
            self._set_vote(vote)

    def _set_vote(self, vote: VoteOut) -> None:
        self._vote = vote
        self.ballots.set_ballots(vote.ballots)
        self._show_verification()
        self.vote_shown.emit(vote)

    def _show_verification(self) -> None:
        self.files.set_verification(self.verification)
        self.verification_changed.emit(self.verification)

    def _on_progress(self, stage: str, path: str, done: int, total: int) -> None:
        self._progress[path] = (done, 0)
        self.stage_changed.emit(stage, sum(d for d, _ in self._progress.values()), total)

    def _on_verify_progress(self, path: str, done: int, size: int, total: int) -> None:
        self.files.set_progress(path, done, size)
        self._on_progress("verifying", path, done, total)

    # --- internals ------------------------------------------------------------------------------

    def _step_finished(self) -> None:
        if self._vote is not None:
            self.vote_shown.emit(self._vote)  # what may be cast changed


def _summary(result: Verification) -> str:
    artifacts = len(result.artifacts)
    if result.ok:
        plural = "s" if artifacts != 1 else ""
        return (
            f"Verified here: {artifacts} artifact{plural} — signatures by keys in KEYS, "
            "checksums and the agent's hashes match"
        )
    problems = result.problems
    if not artifacts:
        return "The revision holds no artifact to vote on"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"Verification FAILED: {problems[0]}{more}"
