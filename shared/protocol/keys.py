"""Wire models of project signing keys and the KEYS file (issue 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.ids import Fingerprint, ProjectKey, UserName
from shared.protocol.models import Model

KeyState = Literal["valid", "expiring", "expired", "revoked"]


class ProjectKeyOut(Model):
    project: ProjectKey
    fingerprint: Fingerprint
    algorithm: str
    bits: int | None
    user_ids: list[str]
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    state: KeyState = Field(description="'expiring': expires within 30 days")
    flags: list[str] = Field(description="policy findings kept for old releases: weak, dsa, ...")
    owner: UserName | None
    added_by: str
    added_at: datetime


class KeyAdd(Model):
    """Publish one armored public key to a project (its user id must be a committer's)."""

    armored: str


class KeysImport(Model):
    """A whole KEYS file, imported block by block."""

    keys_file: str


class SkippedBlock(Model):
    block: int = Field(description="1-based index of the block in the KEYS file")
    reason: str


class KeysImportResult(Model):
    imported: list[Fingerprint]
    skipped: list[SkippedBlock]


class Revocation(Model):
    """A revocation certificate (or the key with its revocation signature), armored."""

    armored: str
    reason: str = ""


class RevokedReleases(Model):
    """Releases whose signatures were made by a key that is now revoked."""

    fingerprint: Fingerprint
    releases: list[str] = Field(description="'<project> <version>' of each release flagged")


class KeyRevoked(Model):
    key: ProjectKeyOut
    flagged: RevokedReleases
