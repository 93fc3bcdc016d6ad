"""Tables of the provenance screens: attestations, ballots, checks, signers, automation keys.

Each is a :class:`~desktop.models.table.RowTableModel` whose columns are named with the
function that tells a row's cell (and, for some, a colour: red for what does not verify or
expires soon, grey for what no longer counts)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor

from desktop.models.table import Index, RowTableModel
from desktop.theme import FAILED_EVENT_COLOUR, MUTED_TEXT
from desktop.viewmodels.provenance import ALARM_DAYS, AttestationRow, BallotRow, CheckRow, SignerRow
from shared.protocol.provenance import AutomationKeyOut

__all__ = [
    "AttestationsModel",
    "AutomationKeysModel",
    "BallotsModel",
    "ChecksModel",
    "SignersModel",
]

T = TypeVar("T")
OK_COLOUR = "#2e7d32"


class _Columns(RowTableModel[T], Generic[T]):
    CELLS: ClassVar[Sequence[Callable[[Any], str]]] = ()

    def colour(self, row: T, column: int) -> str | None:
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.row_at(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return self.CELLS[index.column()](row)
        if role == Qt.ItemDataRole.ForegroundRole:
            colour = self.colour(row, index.column())
            return QBrush(QColor(colour)) if colour else None
        return None


class AttestationsModel(_Columns[AttestationRow]):
    COLUMNS = ("Attestation", "Written when", "At", "Signed by key", "On this computer")
    CELLS = (
        lambda r: r.title,
        lambda r: r.trigger,
        lambda r: f"{r.written_at:%Y-%m-%d %H:%M}",
        lambda r: f"{r.key[:16]}… ({r.key_state})",
        lambda r: ("✓ " if r.valid else "✗ ") + r.verdict,
    )

    def colour(self, row: AttestationRow, column: int) -> str | None:
        if column == 4:
            return OK_COLOUR if row.valid else FAILED_EVENT_COLOUR
        return None


class BallotsModel(_Columns[BallotRow]):
    COLUMNS = ("Round", "Voter", "Vote", "Binding", "Cast", "Ballot signed by")
    CELLS = (
        lambda r: r.round,
        lambda r: r.voter + (" (superseded)" if r.superseded else ""),
        lambda r: r.value,
        lambda r: "binding" if r.binding else "non-binding",
        lambda r: {
            "desktop": "in the desktop",
            "api": "with an API token",
            "email": "by email",
        }.get(r.source, r.source),
        lambda r: (
            " ".join(r.fingerprint[i : i + 4] for i in range(0, len(r.fingerprint), 4))
            or "(not signed: email)"
        ),
    )

    def colour(self, row: BallotRow, column: int) -> str | None:
        return MUTED_TEXT if row.superseded else None


class ChecksModel(_Columns[CheckRow]):
    COLUMNS = ("Check", "Version", "On", "Blockers", "Warnings", "Notes", "Passed")
    CELLS = (
        lambda r: r.check,
        lambda r: str(r.version),
        lambda r: r.artifact,
        lambda r: str(r.blocker),
        lambda r: str(r.warning),
        lambda r: str(r.note),
        lambda r: str(r.passed),
    )

    def colour(self, row: CheckRow, column: int) -> str | None:
        return FAILED_EVENT_COLOUR if column == 3 and row.blocker else None


class SignersModel(_Columns[SignerRow]):
    COLUMNS = ("Artifact", "Signed by", "Key", "Standing")
    CELLS = (
        lambda r: r.artifact,
        lambda r: r.signer,
        lambda r: " ".join(r.fingerprint[i : i + 4] for i in range(0, len(r.fingerprint), 4)),
        lambda r: r.standing,
    )

    def colour(self, row: SignerRow, column: int) -> str | None:
        if column == 3:
            return OK_COLOUR if row.standing == "in KEYS" else FAILED_EVENT_COLOUR
        return None


def _common_name(subject: str | None) -> str:
    """The certificate's common name (its subject's ``CN=``), or "-" without a certificate."""
    if not subject:
        return "-"
    for part in subject.split(","):
        if part.startswith("CN="):
            return part[3:]
    return subject


def _expires(key: AutomationKeyOut) -> str:
    if key.not_after is None:
        return "-"
    days = key.expires_in_days
    left = "expired" if days is not None and days < 0 else f"{days} days"
    return f"{key.not_after:%Y-%m-%d} ({left})"


class AutomationKeysModel(_Columns[AutomationKeyOut]):
    COLUMNS = ("Use", "State", "Algorithm", "Fingerprint (SHA-256)", "Certificate", "Expires",
               "Retired / revoked")  # fmt: skip
    CELLS = (
        lambda k: k.use,
        lambda k: k.state,
        lambda k: k.algorithm,
        lambda k: k.fingerprint,
        lambda k: _common_name(k.subject) + (" (self-signed)" if k.self_signed else ""),
        _expires,
        lambda k: (
            f"revoked {k.revoked_at:%Y-%m-%d}: {k.revocation_reason}"
            if k.revoked_at
            else (f"retired {k.retired_at:%Y-%m-%d}" if k.retired_at else "")
        ),
    )

    def colour(self, row: AutomationKeyOut, column: int) -> str | None:
        if row.state == "revoked":
            return FAILED_EVENT_COLOUR if column == 1 else MUTED_TEXT
        if row.state == "retired":
            return MUTED_TEXT
        soon = row.expires_in_days is not None and row.expires_in_days <= ALARM_DAYS
        if column == 5 and soon:
            return FAILED_EVENT_COLOUR
        return None
