"""Keys as tables: the user's own keys (local keystore) and a project's published keys.

States are coloured the same way wherever a key is shown: valid green, expiring
soon amber, expired grey, revoked red (:data:`KEY_STATE_COLOURS`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QFont

from desktop.keystore import StoredKey
from desktop.models.table import Index, RowTableModel
from desktop.theme import MUTED_TEXT, monospace_font
from shared.protocol.keys import ProjectKeyOut

KeyRole = Qt.ItemDataRole.UserRole + 1
"""The row's key object (:class:`StoredKey` or :class:`ProjectKeyOut`)."""

EXPIRING_DAYS = 30
"""A key expiring within this many days is shown as "expiring" (as the agent does)."""

KEY_STATE_COLOURS: dict[str, str] = {
    "valid": "#2e7d32",
    "expiring": "#ef6c00",
    "expired": "#757575",
    "revoked": "#c62828",
}
KEY_STATE_TEXT: dict[str, str] = {
    "valid": "valid",
    "expiring": "expiring soon",
    "expired": "expired",
    "revoked": "revoked",
}


def grouped_fingerprint(fingerprint: str) -> str:
    """``ABCD EF01 …``: a fingerprint in groups of four, as GnuPG prints it."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def algorithm_text(algorithm: str, bits: int | None) -> str:
    return f"{algorithm} {bits}" if bits else algorithm


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def expiry_text(expires: datetime | None) -> str:
    return "never" if expires is None else _utc(expires).astimezone().strftime("%Y-%m-%d")


def local_key_state(key: StoredKey, *, now: datetime | None = None) -> str:
    """``valid``, ``expiring``, ``expired`` or ``revoked`` for a key of the keystore."""
    if key.revoked:
        return "revoked"
    expires = key.info.expires_at
    if expires is None:
        return "valid"
    now = now or datetime.now(UTC)
    if _utc(expires) <= now:
        return "expired"
    if _utc(expires) - now <= timedelta(days=EXPIRING_DAYS):
        return "expiring"
    return "valid"


def _state_role(state: str, role: int, bold: QFont) -> Any:
    if role == Qt.ItemDataRole.ForegroundRole:
        return QColor(KEY_STATE_COLOURS.get(state, MUTED_TEXT))
    if role == Qt.ItemDataRole.FontRole:
        return bold
    return None


class MyKeysModel(RowTableModel[StoredKey]):
    """The keys of the local keystore, and where each one is published."""

    COLUMNS = ("Key", "State", "Fingerprint", "Algorithm", "Backend", "Expires", "Published")
    KEY, STATE, FINGERPRINT, ALGORITHM, BACKEND, EXPIRES, PUBLISHED = range(7)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._published: dict[str, str] = {}
        self._login: str | None = None
        self._mono = monospace_font()
        self._bold = QFont()
        self._bold.setBold(True)

    def set_keys(self, keys: list[StoredKey], *, login: str | None = None) -> None:
        with self._resetting():
            self._rows = list(keys)
            self._login = login

    def set_published(self, published: dict[str, str]) -> None:
        """Fingerprint → where it is published (e.g. ``acme-lib (valid)``)."""
        self._published = dict(published)
        self._changed(0, len(self._rows) - 1, column=self.PUBLISHED)

    def entries(self) -> list[StoredKey]:
        return self.rows()

    def key_at(self, row: int) -> StoredKey:
        return self.row_at(row)

    def row_of(self, fingerprint: str) -> int:
        for row, key in enumerate(self._rows):
            if key.fingerprint == fingerprint:
                return row
        return -1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        key = self._rows[index.row()]
        column = index.column()
        if role == KeyRole:
            return key
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells(key)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(key, column)
        return self._style(key, column, role)

    def _style(self, key: StoredKey, column: int, role: int) -> Any:
        if column == self.STATE:
            return _state_role(local_key_state(key), role, self._bold)
        if role != Qt.ItemDataRole.FontRole:
            return None
        if column == self.FINGERPRINT:
            return self._mono
        return self._bold if column == self.KEY and key.fingerprint == self._login else None

    def _cells(self, key: StoredKey) -> tuple[str, ...]:
        uid = key.info.user_ids[0] if key.info.user_ids else "(no user id)"
        return (
            f"{uid}  — login key" if key.fingerprint == self._login else uid,
            KEY_STATE_TEXT[local_key_state(key)],
            grouped_fingerprint(key.fingerprint),
            algorithm_text(key.info.algorithm, key.info.bits),
            key.backend_label,
            expiry_text(key.info.expires_at),
            self._published.get(key.fingerprint, "—"),
        )

    def _tooltip(self, key: StoredKey, column: int) -> str | None:
        if column == self.KEY:
            return "\n".join(key.info.user_ids)
        if column == self.FINGERPRINT:
            return key.fingerprint
        if column == self.BACKEND:
            if key.backend == "gnupg":
                home = str(key.gnupg_home) if key.gnupg_home else "GnuPG's default home"
                return f"Signed by gpg with your GnuPG keyring ({home}); the secret stays there"
            return "The secret key is in the desktop's keystore, passphrase-protected"
        if column == self.STATE and key.revoked:
            return "Revoked from this computer; the revocation is kept beside the key"
        return None


class ProjectKeysModel(RowTableModel[ProjectKeyOut]):
    """A project's keys as the agent lists them (the KEYS file's entries)."""

    COLUMNS = ("State", "Owner", "User IDs", "Fingerprint", "Algorithm", "Expires", "Flags")
    STATE, OWNER, USER_IDS, FINGERPRINT, ALGORITHM, EXPIRES, FLAGS = range(7)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: str | None = None
        self._mono = monospace_font()
        self._bold = QFont()
        self._bold.setBold(True)

    def set_keys(self, project: str | None, keys: list[ProjectKeyOut]) -> None:
        with self._resetting():
            self.project = project
            self._rows = list(keys)

    def entries(self) -> list[ProjectKeyOut]:
        return self.rows()

    def key_at(self, row: int) -> ProjectKeyOut:
        return self.row_at(row)

    def find(self, fingerprint: str) -> ProjectKeyOut | None:
        return next((k for k in self._rows if k.fingerprint == fingerprint), None)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        key = self._rows[index.row()]
        column = index.column()
        if role == KeyRole:
            return key
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells(key)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(key, column)
        return self._style(key, column, role)

    def _style(self, key: ProjectKeyOut, column: int, role: int) -> Any:
        if column == self.STATE:
            return _state_role(key.state, role, self._bold)
        if role == Qt.ItemDataRole.FontRole and column == self.FINGERPRINT:
            return self._mono
        if role == Qt.ItemDataRole.ForegroundRole and key.state in ("revoked", "expired"):
            return QColor(MUTED_TEXT)
        return None

    @staticmethod
    def _cells(key: ProjectKeyOut) -> tuple[str, ...]:
        return (
            KEY_STATE_TEXT.get(key.state, key.state),
            key.owner or "—",
            "; ".join(key.user_ids) or "(no user id)",
            grouped_fingerprint(key.fingerprint),
            algorithm_text(key.algorithm, key.bits),
            expiry_text(key.expires_at),
            ", ".join(key.flags),
        )

    def _tooltip(self, key: ProjectKeyOut, column: int) -> str | None:
        if column == self.STATE and key.state == "revoked":
            when = expiry_text(key.revoked_at) if key.revoked_at else "?"
            reason = f": {key.revocation_reason}" if key.revocation_reason else ""
            return f"Revoked on {when}{reason}. It stays in KEYS for the releases it signed."
        if column == self.STATE and key.state == "expiring" and key.expires_at:
            return f"Expires on {expiry_text(key.expires_at)}: extend it and publish it again"
        if column == self.FINGERPRINT:
            return key.fingerprint
        if column == self.USER_IDS:
            return "\n".join(key.user_ids)
        if column == self.FLAGS and key.flags:
            return "Policy findings kept for the old releases this key signed"
        return f"added by {key.added_by} on {expiry_text(key.added_at)}"
