"""The project-keys part of :class:`shared.client.AgentClient` (a mixin it inherits).

* :meth:`KeysMethods.list_project_keys` — ``GET /projects/{p}/keys``
* :meth:`KeysMethods.add_project_key` — ``POST /projects/{p}/keys`` (one armored key)
* :meth:`KeysMethods.import_keys` — ``POST /projects/{p}/keys/import`` (a whole KEYS file)
* :meth:`KeysMethods.revoke_key` — ``POST /projects/{p}/keys/revoke``
* :meth:`KeysMethods.get_keys_file` — ``GET /projects/{p}/KEYS`` (public, text)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from shared.client._requests import RequestMethods
from shared.errors import ValidationError
from shared.ids import check_fingerprint, check_key
from shared.protocol.keys import (
    KeyAdd,
    KeyRevoked,
    KeysImport,
    KeysImportResult,
    ProjectKeyOut,
    Revocation,
)

MAX_KEY_TEXT = 16 * 1024 * 1024
"""The largest key, KEYS or revocation file sent (the agent refuses larger ones too)."""


def _keys_path(project: str) -> str:
    return f"/projects/{quote(check_key(project), safe='')}"


def read_key_text(path: Path, *, what: str) -> str:
    """The text of a key, KEYS or revocation file; :class:`ValidationError` naming the problem."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_KEY_TEXT:
            raise ValidationError(f"{path} has {size:,} bytes: too large for a {what}")
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise ValidationError(f"{what} {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ValidationError(f"{path} is a folder, not a {what}") from exc
    except OSError as exc:
        raise ValidationError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


class KeysMethods(RequestMethods):
    """Project keys: list, publish, import a KEYS file, revoke, and the KEYS file itself."""

    async def list_project_keys(self, project: str) -> list[ProjectKeyOut]:
        """The project's keys, in KEYS order, with their state and flags."""
        return await self._call(list[ProjectKeyOut], "GET", _keys_path(project) + "/keys")

    async def get_project_key(self, project: str, fingerprint: str) -> ProjectKeyOut:
        """One key of the project."""
        fpr = check_fingerprint(fingerprint)
        return await self._call(ProjectKeyOut, "GET", _keys_path(project) + f"/keys/{fpr}")

    async def add_project_key(self, project: str, armored: str) -> ProjectKeyOut:
        """Publish one ASCII-armored public key to the project's KEYS (committer: their own)."""
        return await self._call(
            ProjectKeyOut, "POST", _keys_path(project) + "/keys", body=KeyAdd(armored=armored)
        )

    async def import_keys(self, project: str, keys_file: str) -> KeysImportResult:
        """Import a whole KEYS file (PMC): the keys read and the blocks skipped."""
        return await self._call(
            KeysImportResult,
            "POST",
            _keys_path(project) + "/keys/import",
            body=KeysImport(keys_file=keys_file),
        )

    async def revoke_key(self, project: str, revocation: str, *, reason: str = "") -> KeyRevoked:
        """Revoke a project key with a revocation certificate (or the key carrying its
        revocation); answers the key and the releases flagged as signed by it."""
        return await self._call(
            KeyRevoked,
            "POST",
            _keys_path(project) + "/keys/revoke",
            body=Revocation(armored=revocation, reason=reason),
        )

    async def get_keys_file(self, project: str) -> str:
        """The project's generated KEYS file (public: no token needed)."""
        response = await self._send("GET", _keys_path(project) + "/KEYS")
        return response.text
