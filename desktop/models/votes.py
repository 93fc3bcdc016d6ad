"""Votes as tables: the votes (open first, then decided ones), one vote's ballots, and the
candidate's local verification."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QFont

from desktop.format import human_size, short_hash
from desktop.models.table import Index, RowTableModel
from desktop.theme import MUTED_TEXT, monospace_font
from desktop.verify import FileCheck, Verification
from shared.protocol.votes import BallotOut, BallotValue, VoteOut
from shared.votes import MIN_BINDING_APPROVALS, SOURCE_TEXT

VoteRole = Qt.ItemDataRole.UserRole + 1

VALUE_COLOURS = {"+1": "#2e7d32", "0": "#757575", "-1": "#c62828"}
OK_COLOUR = "#2e7d32"
FAIL_COLOUR = "#c62828"
VALUES: tuple[BallotValue, ...] = ("+1", "0", "-1")


MINUS = "\u2212"
"""A typographic minus (U+2212): it reads better than a hyphen in a table."""


def counts_text(counts: Mapping[BallotValue, int]) -> str:
    """``+1: 3   0: 0   -1: 1``, with a typographic minus."""
    return "   ".join(f"{v.replace('-', MINUS)}: {counts.get(v, 0)}" for v in VALUES)


def standing(vote: VoteOut) -> str:
    """Where the vote stands, for people: what it still needs, or its outcome with the tally."""
    tally = vote.tally
    if tally.outcome == "cancelled":
        return "vote cancelled"
    if tally.outcome != "open":
        approvals, rejections = tally.binding.get("+1", 0), tally.binding.get("-1", 0)
        return f"vote {tally.outcome}: {approvals} binding +1, {rejections} binding {MINUS}1"
    approvals = tally.binding.get("+1", 0)
    rejections = tally.binding.get("-1", 0)
    if approvals < MIN_BINDING_APPROVALS:
        missing = MIN_BINDING_APPROVALS - approvals
        return f"needs {missing} more binding +1"
    if approvals <= rejections:
        return f"needs more binding +1 than binding {MINUS}1"
    return "would pass if it ended now"


def time_left(ends_at: datetime, *, now: datetime | None = None) -> str:
    """``2d 5h left``, ``40m left``, ``ended``."""
    end = ends_at if ends_at.tzinfo else ends_at.replace(tzinfo=UTC)
    seconds = (end - (now or datetime.now(UTC))).total_seconds()
    if seconds <= 0:
        return "ended"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h left"
    if hours:
        return f"{hours}h {minutes:02d}m left"
    return f"{max(minutes, 1)}m left"


def is_open(vote: VoteOut) -> bool:
    return vote.tally.outcome == "open"


def ends_text(vote: VoteOut, *, now: datetime | None = None) -> str:
    """An open vote's time left (``2d 5h left``); a decided one's date (``decided 2026-01-05``)."""
    if is_open(vote):
        return time_left(vote.ends_at, now=now)
    when = vote.decided_at or vote.ends_at
    return f"{vote.tally.outcome} {when.astimezone().strftime('%Y-%m-%d')}"


def _order(vote: VoteOut) -> tuple[int, float, str, str]:
    """Open votes first, ending soonest first; then decided ones, newest first."""
    if is_open(vote):
        return (0, vote.ends_at.timestamp(), vote.project, vote.version)
    when = vote.decided_at or vote.ends_at
    return (1, -when.timestamp(), vote.project, vote.version)


class VotesModel(RowTableModel[VoteOut]):
    """Votes: release, round, when it ends (or was decided), binding and non-binding counts;
    open votes first, then the decided ones (passed, failed, cancelled), newest first."""

    COLUMNS = ("Release", "Revision", "Ends", "Binding", "Non-binding", "Standing")
    RELEASE, REVISION, ENDS, BINDING, NON_BINDING, STANDING = range(6)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bold = QFont()
        self._bold.setBold(True)

    def set_votes(self, votes: list[VoteOut]) -> None:
        self.set_rows(sorted(votes, key=_order))

    def update_vote(self, vote: VoteOut) -> None:
        """Replace the row of the same vote (a new tally), or add it."""
        for row, known in enumerate(self._rows):
            if known.id == vote.id:
                self._replace_row(row, vote)
                return
        self.set_votes([*self._rows, vote])

    def votes(self) -> list[VoteOut]:
        return self.rows()

    def vote_at(self, row: int) -> VoteOut:
        return self.row_at(row)

    def row_of(self, project: str, version: str) -> int:
        """The row of the release's latest vote (round) in the table, or -1."""
        rows = [
            (vote.id, row)
            for row, vote in enumerate(self._rows)
            if (vote.project, vote.version) == (project, version)
        ]
        return max(rows)[1] if rows else -1

    def row_of_id(self, vote_id: int) -> int:
        for row, vote in enumerate(self._rows):
            if vote.id == vote_id:
                return row
        return -1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        vote = self._rows[index.row()]
        column = index.column()
        if role == VoteRole:
            return vote
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells(vote)[column]
        if role == Qt.ItemDataRole.ToolTipRole and column == self.ENDS:
            when = vote.ends_at if is_open(vote) else (vote.decided_at or vote.ends_at)
            return when.astimezone().strftime("%Y-%m-%d %H:%M %Z")
        if role == Qt.ItemDataRole.ToolTipRole and column == self.STANDING and vote.reason:
            return vote.reason
        return self._style(vote, column, role)

    def _style(self, vote: VoteOut, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.FontRole and column in (self.RELEASE, self.BINDING):
            return self._bold
        if role == Qt.ItemDataRole.ForegroundRole and column == self.STANDING:
            outcome = vote.tally.outcome
            if outcome in ("passed", "failed"):
                return QColor(OK_COLOUR if outcome == "passed" else FAIL_COLOUR)
            passing = standing(vote) == "would pass if it ended now"
            return QColor(OK_COLOUR if passing else MUTED_TEXT)
        return None

    @staticmethod
    def _cells(vote: VoteOut) -> tuple[str, ...]:
        round_note = " (Incubator)" if vote.round == "incubator" else ""
        return (
            f"{vote.project} {vote.version}{round_note}",
            str(vote.revision),
            ends_text(vote),
            counts_text(vote.tally.binding),
            counts_text(vote.tally.non_binding),
            standing(vote),
        )


class BallotsModel(RowTableModel[BallotOut]):
    """The ballots of one vote, newest first; superseded ones greyed."""

    COLUMNS = ("Voter", "Vote", "Binding", "Cast", "Via", "Comment")
    VOTER, VALUE, BINDING, CAST, SOURCE, COMMENT = range(6)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bold = QFont()
        self._bold.setBold(True)

    def set_ballots(self, ballots: list[BallotOut]) -> None:
        self.set_rows(sorted(ballots, key=lambda b: b.cast_at, reverse=True))

    def ballots(self) -> list[BallotOut]:
        return self.rows()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        ballot = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                ballot.voter,
                ballot.value,
                "binding" if ballot.binding else "non-binding",
                ballot.cast_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                SOURCE_TEXT[ballot.source],
                ballot.comment,
            )[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            note = "superseded by a later ballot of the same voter\n" if ballot.superseded else ""
            key = f"signed with {ballot.fingerprint}" if ballot.fingerprint else ""
            return (note + key).strip() or None
        return self._style(ballot, column, role)

    def _style(self, ballot: BallotOut, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole:
            if ballot.superseded:
                return QColor(MUTED_TEXT)
            return QColor(VALUE_COLOURS[ballot.value]) if column == self.VALUE else None
        if role == Qt.ItemDataRole.FontRole and column == self.VALUE:
            return self._bold
        return None


class VerificationModel(RowTableModel[FileCheck]):
    """The candidate's files as verified on this computer."""

    COLUMNS = ("File", "Result", "Signature", "Checksum", "Size", "SHA-512")
    FILE, RESULT, SIGNATURE, CHECKSUM, SIZE, SHA512 = range(6)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._progress: dict[str, tuple[int, int]] = {}
        self._mono = monospace_font()
        self._bold = QFont()
        self._bold.setBold(True)

    def set_verification(self, verification: Verification | None) -> None:
        self._show(verification.files if verification else [])

    def set_pending(self, files: list[FileCheck]) -> None:
        """Files being downloaded or checked (their results not known yet)."""
        self._show(files)

    def _show(self, files: Iterable[FileCheck]) -> None:
        with self._resetting():
            self._rows = list(files)
            self._progress = {}

    def set_progress(self, path: str, done: int, total: int) -> None:
        self._progress[path] = (done, total)
        for row, check in enumerate(self._rows):
            if check.path == path:
                self._changed(row, row, column=self.RESULT)
                return

    def files(self) -> list[FileCheck]:
        return self.rows()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        check = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells(check)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(check, column)
        return self._style(check, column, role)

    def _style(self, check: FileCheck, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and column == self.RESULT:
            if check.problems:
                return QColor(FAIL_COLOUR)
            return QColor(OK_COLOUR) if check.sha512 else QColor(MUTED_TEXT)
        if role == Qt.ItemDataRole.FontRole:
            if column == self.SHA512:
                return self._mono
            return self._bold if column == self.RESULT else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _cells(self, check: FileCheck) -> tuple[str, ...]:
        if check.sha512:
            result = "✔ verified" if check.ok else "✘ " + check.problems[0]
            if check.ok and check.kind != "artifact":
                result = "✔ " + ("signature file" if check.kind == "signature" else "checksum file")
        else:
            done, total = self._progress.get(check.path, (0, 0))
            result = f"checking {done * 100 // total} %" if total else "waiting"
            if check.problems:
                result = "✘ " + check.problems[0]
        return (
            check.path,
            result,
            check.signature if check.kind == "artifact" else "",
            check.checksum if check.kind == "artifact" else "",
            human_size(check.size),
            short_hash(check.sha512) if check.sha512 else "",
        )

    @staticmethod
    def _tooltip(check: FileCheck, column: int) -> str | None:
        if column == VerificationModel.SHA512:
            return check.sha512 or None
        if column == VerificationModel.SIGNATURE and check.signer:
            return f"signed by {check.signer}"
        if column == VerificationModel.RESULT and check.problems:
            return "\n".join(check.problems)
        return None
