"""Which releases of a project carry signatures made by a given key.

Every ``.asc`` file of every revision of the project's releases is given to GnuPG
with only that key in a throwaway home (each distinct file once). GnuPG names the
key a signature was made with (issuer fingerprint or key id, primary key or
subkey) whether or not the signed data is at hand, so the artifacts themselves —
possibly gigabytes — are not read: a signature that *claims* to be by the key
counts. For flagging releases after a revocation that is the safe side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from shared.openpgp.gnupg import Keyring, SignatureStatus

__all__ = ["SignedRelease", "releases_signed_by"]

MAX_SIGNATURE_BYTES = 1 << 20
"""An ``.asc`` larger than this is not a detached signature; it is not read."""

_FOUND_KEY = frozenset(
    {
        SignatureStatus.GOOD,
        SignatureStatus.BAD,
        SignatureStatus.REVOKED_KEY,
        SignatureStatus.EXPIRED_KEY,
        SignatureStatus.EXPIRED_SIGNATURE,
    }
)


@dataclass(frozen=True, slots=True)
class SignedRelease:
    """A release with signatures by the key: where they are."""

    version: str
    signatures: tuple[str, ...]
    """``r<revision>/<path>`` of each ``.asc`` holding a signature by the key."""


def _read(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > MAX_SIGNATURE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return data if b"-----BEGIN PGP SIGNATURE-----" in data else None


def releases_signed_by(
    session: Session,
    *,
    project_id: int,
    armored: str,
    key_ids: Collection[str],
    blob_path: Callable[[str], Path],
) -> list[SignedRelease]:
    """The releases of project ``project_id`` with an ``.asc`` signed by the key ``armored``
    (``key_ids``: the fingerprints of its primary key and subkeys), by version order of
    creation. ``blob_path`` maps a blob's SHA-256 to its file."""
    rows = session.execute(
        select(models.Release.version, models.Revision.number, models.RevisionFile.path)
        .add_columns(models.RevisionFile.blob_sha256)
        .join(models.Revision, models.Revision.release_id == models.Release.id)
        .join(models.RevisionFile, models.RevisionFile.revision_id == models.Revision.id)
        .where(models.Release.project_id == project_id, models.RevisionFile.path.like("%.asc"))
        .order_by(models.Release.created_at, models.Release.id, models.Revision.number)
    ).all()
    if not rows:
        return []
    fingerprints = {k.upper() for k in key_ids}
    long_ids = {f[-16:] for f in fingerprints}
    verdict: dict[str, bool] = {}
    found: dict[str, list[str]] = defaultdict(list)
    order: list[str] = []
    with Keyring.open([armored]) as ring:
        for version, number, path, sha256 in rows:
            if sha256 not in verdict:
                data = _read(blob_path(sha256))
                verdict[sha256] = data is not None and any(
                    r.status in _FOUND_KEY
                    and (
                        (r.fingerprint or "").upper() in fingerprints
                        or r.key_id.upper()[-16:] in long_ids
                    )
                    for r in ring.verify(b"", data)
                )
            if verdict[sha256]:
                if version not in found:
                    order.append(version)
                found[version].append(f"r{number}/{path}")
    return [SignedRelease(version=v, signatures=tuple(found[v])) for v in order]
