"""A project's signing keys, written by role; the reads that answer the API.

Writers come from :class:`ProjectKeys` for one transaction, as :class:`agent.store.Store`
hands out its tiers::

    keys = ProjectKeys(store.session, store.principal, blob_path=blobs.path_for)
    keys.writer("acme-lib").add_key(KeyAdd(armored=...))     # committer: own key; PMC: anyone's
    keys.writer("acme-lib").revoke(Revocation(armored=...))  # the key's owner, or PMC

A KEYS import is the exception: GnuPG reads a whole file (about 10 ms a key), too long to
hold the write lock, so :func:`import_keys_file` runs it between a short read and a write
transaction that writes the rows (:meth:`PmcKeys.write_import`)::

    import_keys_file("acme-lib", KeysImport(keys_file=...), principal=principal,
                     read=state.read, write=state.transaction, blob_path=blobs.path_for)

Rules:

* a key added one by one must belong to a committer (or PMC member) of the project — a
  user id with the user's registered email, or the fingerprint of one of the user's
  registered keys — and pass the key policy (:mod:`shared.openpgp.policy`: RSA of at
  least 2048 bits, not expired, not revoked…); a committer adds only their own key;
* a KEYS file imported by a PMC member keeps every key GnuPG can read, the ones the
  policy refuses too, with ``flags`` saying why (old releases need them);
* the same fingerprint again merges into the stored key (new signatures, a longer
  expiry, a revocation): the stored key only ever gains;
* a key that becomes revoked — by a revocation, or a KEYS file or key carrying one —
  gets ``revoked_at`` and its reason, a ``key.revoked`` event, and each release with a
  signature by it a ``release.flagged`` event;
* keys are never deleted: there is no such method;
* after any change the checks of the project's open releases whose inputs changed are
  redone (:func:`agent.checks.service.rerun_for_project`): the signatures check reads the
  stored keys, so a revoked key's signatures fail from then on.

Every write records its event through :func:`agent.engine.events.append_event`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.checks.service import rerun_for_project
from agent.db import models
from agent.engine.events import append_event
from agent.keys.generate import StoredKey, render_keys_file
from agent.keys.material import KeyFacts, KeysRead, read_key, read_keys_file, read_revocation
from agent.keys.signed import SignedRelease, releases_signed_by
from agent.store import (
    Conflict,
    Forbidden,
    NotFound,
    Principal,
    WriteCollision,
    project_for,
    project_row,
)
from shared.errors import ValidationError
from shared.ids import check_fingerprint
from shared.openpgp.policy import MIN_RSA_BITS, RECOMMENDED_RSA_BITS
from shared.protocol import EventKind, Role
from shared.protocol.keys import (
    KeyAdd,
    KeyRevoked,
    KeysImport,
    KeysImportResult,
    KeyState,
    ProjectKeyOut,
    Revocation,
    RevokedReleases,
)

__all__ = [
    "EXPIRING_WITHIN",
    "IMPORT_ATTEMPTS",
    "CommitterKeys",
    "PmcKeys",
    "ProjectKeys",
    "get_project_key",
    "import_keys_file",
    "keys_file",
    "list_project_keys",
    "revoke_key",
]

EXPIRING_WITHIN = timedelta(days=30)
"""A key that expires sooner than this is in state ``expiring``."""

_RULES = {
    "rsa_too_small": f"release signing keys are RSA keys of at least {MIN_RSA_BITS} bits "
    f"({RECOMMENDED_RSA_BITS} recommended)",
    "expired": "a key added to KEYS must not be expired; extend its expiry and export it again",
    "revoked": "a revoked key cannot be added (a PMC member may import it with the project's "
    "old KEYS file); to revoke a key already in KEYS use 'atr keys revoke'",
    "dsa": "DSA keys are not accepted for releases",
    "cannot_sign": "the key, or a subkey of it, must be able to sign",
    "unknown_curve": "elliptic-curve keys must use Ed25519/Ed448, NIST P-256/384/521 or Brainpool",
    "unknown_algorithm": "the key's algorithm is not accepted for releases",
}

IMPORT_ATTEMPTS = 3
"""How many times a KEYS import reads the file again when keys in it changed meanwhile."""

BlobPath = Callable[[str], Path]
Sessions = Callable[[], AbstractContextManager[Session]]
"""Opens a session: a read (no write lock) or a transaction committed on success."""


@dataclass(frozen=True)
class RevocationRead:
    """A revocation as GnuPG read it, before the write transaction: the key with its
    revocation, the stored copy it was read against, and the releases the key signed."""

    facts: KeyFacts
    basis: str
    signed: list[SignedRelease]


# --- rows and the wire ---------------------------------------------------------------------------


def _state(row: models.ProjectKey, now: datetime) -> KeyState:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None:
        if row.expires_at <= now:
            return "expired"
        if row.expires_at <= now + EXPIRING_WITHIN:
            return "expiring"
    return "valid"


def key_to_wire(
    row: models.ProjectKey, *, project: str, owner: str | None, now: datetime | None = None
) -> ProjectKeyOut:
    """The protocol model of a project key row."""
    return ProjectKeyOut(
        project=project,
        fingerprint=row.fingerprint,
        algorithm=row.algorithm,
        bits=row.bits,
        user_ids=list(row.user_ids),
        created_at=row.key_created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
        state=_state(row, now or datetime.now(UTC)),
        flags=list(row.flags),
        owner=owner,
        added_by=row.added_by,
        added_at=row.added_at,
    )


def _key_rows(session: Session, project: models.Project) -> list[models.ProjectKey]:
    """The project's keys in KEYS order: added date, then fingerprint."""
    return list(
        session.scalars(
            select(models.ProjectKey)
            .where(models.ProjectKey.project_id == project.id)
            .order_by(models.ProjectKey.added_at, models.ProjectKey.fingerprint)
        )
    )


def _owner_names(session: Session, rows: Sequence[models.ProjectKey]) -> dict[int, str]:
    ids = {r.owner_user_id for r in rows if r.owner_user_id is not None}
    if not ids:
        return {}
    users = session.execute(select(models.User.id, models.User.name).where(models.User.id.in_(ids)))
    return {uid: name for uid, name in users}


def _wire_all(
    session: Session, project: models.Project, rows: Sequence[models.ProjectKey]
) -> list[ProjectKeyOut]:
    owners = _owner_names(session, rows)
    now = datetime.now(UTC)
    return [
        key_to_wire(
            r,
            project=project.key,
            owner=owners.get(r.owner_user_id) if r.owner_user_id else None,
            now=now,
        )
        for r in rows
    ]


# --- reads ---------------------------------------------------------------------------------------


def list_project_keys(session: Session, project: str) -> list[ProjectKeyOut]:
    """The project's keys in KEYS order."""
    row = project_row(session, project)
    return _wire_all(session, row, _key_rows(session, row))


def get_project_key(session: Session, project: str, fingerprint: str) -> ProjectKeyOut:
    """One key of the project by its fingerprint."""
    row = project_row(session, project)
    fpr = check_fingerprint(fingerprint)
    key = session.scalar(
        select(models.ProjectKey).where(
            models.ProjectKey.project_id == row.id, models.ProjectKey.fingerprint == fpr
        )
    )
    if key is None:
        raise NotFound(f"project '{project}' has no key {fpr}")
    return _wire_all(session, row, [key])[0]


def keys_file(session: Session, project: str) -> str:
    """The project's generated KEYS file (see :mod:`agent.keys.generate`)."""
    row = project_row(session, project)
    stored = [
        StoredKey(
            fingerprint=k.fingerprint,
            armored=k.armored,
            added_at=k.added_at,
            revoked_at=k.revoked_at,
        )
        for k in _key_rows(session, row)
    ]
    return render_keys_file(row.key, row.name, stored)


# --- who owns a key ------------------------------------------------------------------------------


def _committers(session: Session, project: models.Project) -> list[models.User]:
    """Users who are committers or PMC members of the project's committee, by name."""
    return list(
        session.scalars(
            select(models.User)
            .join(models.Membership, models.Membership.user_id == models.User.id)
            .where(
                models.Membership.committee_id == project.committee_id,
                models.Membership.role.in_((Role.COMMITTER.value, Role.PMC.value)),
            )
            .order_by(models.User.name)
        )
    )


def _find_owner(
    session: Session, project: models.Project, facts: KeyFacts, *, prefer: int | None
) -> models.User | None:
    """The committer of the project the key belongs to: the user who registered its
    fingerprint, else a user whose registered email is one of its user ids (``prefer``
    first when several match)."""
    committers = _committers(session, project)
    registered = session.scalar(
        select(models.UserKey.user_id).where(models.UserKey.fingerprint == facts.fingerprint)
    )
    for user in committers:
        if user.id == registered:
            return user
    emails = set(facts.emails)
    matches = [u for u in committers if u.email.strip().lower() in emails]
    preferred = [u for u in matches if u.id == prefer]
    chosen = preferred or matches
    return chosen[0] if chosen else None


# --- the writers ---------------------------------------------------------------------------------


class ProjectKeys:
    """Hands out the key writers of a project by the principal's role (one transaction)."""

    def __init__(self, session: Session, principal: Principal, *, blob_path: BlobPath) -> None:
        self.session = session
        self.principal = principal
        self.blob_path = blob_path

    def _role_on(self, project: models.Project) -> Role:
        return self.principal.role_for(project.key, project.committee.name)

    def as_committer(self, project: str) -> CommitterKeys:
        """A committer of ``project``: publish their own key, revoke their own key."""
        row = project_for(
            self.session,
            self.principal,
            project,
            Role.COMMITTER,
            what=f"changing the keys of '{project}'",
        )
        return CommitterKeys(self.session, self.principal, row, blob_path=self.blob_path)

    def as_pmc(self, project: str) -> PmcKeys:
        """A PMC member of ``project``: anyone's key, KEYS import, any revocation."""
        row = project_for(
            self.session,
            self.principal,
            project,
            Role.PMC,
            what=f"importing or managing every key of '{project}'",
        )
        return PmcKeys(self.session, self.principal, row, blob_path=self.blob_path)

    def writer(self, project: str) -> CommitterKeys:
        """The highest tier the principal holds on ``project`` (403 below committer)."""
        row = project_row(self.session, project)
        if self._role_on(row).rank >= Role.PMC.rank:
            return self.as_pmc(project)
        return self.as_committer(project)


class CommitterKeys:
    """What a committer may do with the keys of one project."""

    may_act_for_others = False

    def __init__(
        self,
        session: Session,
        principal: Principal,
        project: models.Project,
        *,
        blob_path: BlobPath,
    ) -> None:
        self.session = session
        self.principal = principal
        self.project = project
        self.blob_path = blob_path

    # --- helpers ---------------------------------------------------------------------------

    def _event(self, kind: EventKind, *, version: str | None = None, **data: Any) -> None:
        append_event(
            self.session,
            kind,
            actor=self.principal.name,
            project=self.project.key,
            version=version,
            data=data,
        )

    def _row(self, fingerprint: str) -> models.ProjectKey | None:
        return self.session.scalar(
            select(models.ProjectKey).where(
                models.ProjectKey.project_id == self.project.id,
                models.ProjectKey.fingerprint == fingerprint,
            )
        )

    def _stored(
        self, fingerprints: Collection[str] | None = None, *, lock: bool = False
    ) -> dict[str, str]:
        query = select(models.ProjectKey.fingerprint, models.ProjectKey.armored).where(
            models.ProjectKey.project_id == self.project.id
        )
        if fingerprints is not None:
            query = query.where(models.ProjectKey.fingerprint.in_(fingerprints))
        if lock:  # PostgreSQL: no other writer changes these rows until this one commits
            query = query.with_for_update()
        return {fpr: armored for fpr, armored in self.session.execute(query)}

    def stored_keys(self) -> dict[str, str]:
        """The project's stored keys: fingerprint → GnuPG's armored export."""
        return self._stored()

    def _owner_name(self, row: models.ProjectKey) -> str | None:
        if row.owner_user_id is None:
            return None
        user = self.session.get(models.User, row.owner_user_id)
        return user.name if user is not None else None

    def _wire(self, row: models.ProjectKey) -> ProjectKeyOut:
        return key_to_wire(row, project=self.project.key, owner=self._owner_name(row))

    def _save(
        self,
        facts: KeyFacts,
        *,
        owner: models.User | None,
        now: datetime,
        reason: str = "",
        signed: Sequence[SignedRelease] | None = None,
    ) -> tuple[models.ProjectKey, str, list[SignedRelease]]:
        """Insert or merge ``facts``; returns the row, what happened (``added``, ``updated``,
        ``unchanged``) and the releases flagged if the key became revoked here. Keys added
        by one call share its time ``now`` (the KEYS file then orders them by fingerprint).

        ``signed``: the releases signed by the key, found by :meth:`signed_by` before the
        write transaction (GnuPG then runs outside it); ``None``: found here."""
        row = self._row(facts.fingerprint)
        outcome = "added"
        if row is None:
            row = models.ProjectKey(
                project_id=self.project.id,
                fingerprint=facts.fingerprint,
                added_by=self.principal.name,
                added_at=now,
                owner_user_id=owner.id if owner is not None else None,
            )
            self.session.add(row)
            was_revoked = False
        else:
            if row.armored == facts.armored and row.flags == self._flags(row, facts):
                return row, "unchanged", []
            outcome = "updated"
            was_revoked = row.revoked_at is not None
            if row.owner_user_id is None and owner is not None:
                row.owner_user_id = owner.id
        row.armored = facts.armored
        row.algorithm = facts.algorithm
        row.bits = facts.bits
        row.user_ids = list(facts.user_ids)
        row.key_created_at = facts.created_at
        row.expires_at = facts.expires_at
        row.flags = self._flags(row, facts)
        flagged: list[SignedRelease] = []
        if facts.revocation is not None and not was_revoked:
            row.revoked_at = facts.revocation.created or now
            row.revocation_reason = reason or facts.revocation.reason or "no reason given"
            self.session.flush()
            flagged = self._flag_releases(row, facts, signed)
        self.session.flush()
        return row, outcome, flagged

    @staticmethod
    def _flags(row: models.ProjectKey, facts: KeyFacts) -> list[str]:
        flags = facts.flags
        if row.revoked_at is not None and "revoked" not in flags:
            flags.insert(0, "revoked")
        return flags

    def signed_by(self, facts: Iterable[KeyFacts]) -> dict[str, list[SignedRelease]]:
        """For each key of ``facts`` that carries a revocation its stored copy does not have
        yet: the releases of the project signed by it (GnuPG checks every ``.asc``).

        Called in a read session before the write transaction: the writer re-checks that
        the stored keys did not change meanwhile, so the answer still holds then.
        """
        revoked = [f for f in facts if f.revocation is not None]
        if not revoked:
            return {}
        already = set(
            self.session.scalars(
                select(models.ProjectKey.fingerprint).where(
                    models.ProjectKey.project_id == self.project.id,
                    models.ProjectKey.fingerprint.in_([f.fingerprint for f in revoked]),
                    models.ProjectKey.revoked_at.is_not(None),
                )
            )
        )
        return {
            f.fingerprint: self._releases_signed_by(f)
            for f in revoked
            if f.fingerprint not in already
        }

    def _releases_signed_by(self, facts: KeyFacts) -> list[SignedRelease]:
        return releases_signed_by(
            self.session,
            project_id=self.project.id,
            armored=facts.armored,
            key_ids=facts.key_ids,
            blob_path=self.blob_path,
        )

    def _flag_releases(
        self, row: models.ProjectKey, facts: KeyFacts, signed: Sequence[SignedRelease] | None
    ) -> list[SignedRelease]:
        """Record the revocation (``key.revoked``) and flag each release signed by the key."""
        self._revoke_elsewhere(row, facts)
        signed = list(signed) if signed is not None else self._releases_signed_by(facts)
        revoked_at = row.revoked_at.isoformat() if row.revoked_at else None
        self._event(
            EventKind.KEY_REVOKED,
            fingerprint=row.fingerprint,
            user_ids=list(row.user_ids),
            revoked_at=revoked_at,
            reason=row.revocation_reason,
            releases=[s.version for s in signed],
        )
        for release in signed:
            self._event(
                EventKind.RELEASE_FLAGGED,
                version=release.version,
                reason="signed by a revoked key",
                fingerprint=row.fingerprint,
                revoked_at=revoked_at,
                revocation_reason=row.revocation_reason,
                signatures=list(release.signatures),
            )
        return signed

    def _revoke_elsewhere(self, row: models.ProjectKey, facts: KeyFacts) -> None:
        """A revocation reaches every place the key is trusted: the user's registered copy
        (logins, ballots, distribution approvals) and the other projects' KEYS (their
        checks are redone, so signatures by the key fail there too)."""
        when, reason = row.revoked_at, row.revocation_reason
        for user_key in self.session.scalars(
            select(models.UserKey).where(models.UserKey.fingerprint == row.fingerprint)
        ):
            if user_key.revoked_at is None:
                user_key.revoked_at, user_key.revocation_reason = when, reason
                user_key.armored = facts.armored
        others = self.session.scalars(
            select(models.ProjectKey).where(
                models.ProjectKey.fingerprint == row.fingerprint,
                models.ProjectKey.project_id != self.project.id,
                models.ProjectKey.revoked_at.is_(None),
            )
        )
        for other in list(others):
            other.revoked_at, other.revocation_reason = when, reason
            other.armored = facts.armored
            other.flags = ["revoked", *[f for f in other.flags if f != "revoked"]]
            project = self.session.get(models.Project, other.project_id)
            if project is None:  # pragma: no cover - foreign key
                continue
            append_event(
                self.session,
                EventKind.KEY_REVOKED,
                actor=self.principal.name,
                project=project.key,
                data={
                    "fingerprint": other.fingerprint,
                    "user_ids": list(other.user_ids),
                    "revoked_at": when.isoformat() if when else None,
                    "reason": reason,
                    "revoked_in": self.project.key,
                },
            )
            rerun_for_project(self.session, project, actor=self.principal.name)
        self.session.flush()

    def _keys_changed(self) -> None:
        """Redo the checks whose inputs (the project's keys among them) changed."""
        rerun_for_project(self.session, self.project, actor=self.principal.name)

    def _check_may_act_for(self, owner: models.User | None, what: str) -> None:
        if self.may_act_for_others:
            return
        if owner is None or owner.id != self.principal.user_id:
            raise Forbidden(
                f"{what} needs the 'pmc' role on project '{self.project.key}': committers "
                "may do it only for their own key",
                hint="ask a PMC member of the project",
            )

    # --- writes ----------------------------------------------------------------------------

    def add_key(self, body: KeyAdd) -> tuple[ProjectKeyOut, bool]:
        """Publish one key to the project's KEYS; returns the key and whether it is new.

        400 if the key is unreadable, refused by the key policy, or belongs to no committer
        of the project; 403 if a committer publishes someone else's key.
        """
        existing = self._stored()
        facts = read_key(body.armored, existing=existing)
        if facts.fingerprint in existing and facts.revoked:
            raise ValidationError(
                f"key {facts.label} is revoked; it stays in KEYS as it is",
                hint="publish a new key",
            )
        if facts.problems:
            problem = facts.problems[0]
            raise ValidationError(
                f"key {facts.label} cannot be added: {problem.message}",
                hint=f"rule: {_RULES.get(problem.code, problem.message)}",
            )
        owner = _find_owner(self.session, self.project, facts, prefer=self.principal.user_id)
        if owner is None:
            uids = "; ".join(facts.user_ids) or "none"
            raise ValidationError(
                f"key {facts.fingerprint} belongs to no committer of project "
                f"'{self.project.key}' (its user ids: {uids})",
                hint="rule: a user id's email must be the registered email of a committer or "
                "PMC member of the project, or the key must be registered to that user",
            )
        self._check_may_act_for(owner, "publishing another person's key")
        row, outcome, _ = self._save(facts, owner=owner, now=datetime.now(UTC))
        if outcome != "unchanged":
            self._event(
                EventKind.KEY_ADDED,
                fingerprint=row.fingerprint,
                owner=owner.name,
                user_ids=list(row.user_ids),
                algorithm=row.algorithm,
                bits=row.bits,
                updated=outcome == "updated",
            )
            self._keys_changed()
        return self._wire(row), outcome == "added"

    def revoke(self, body: Revocation) -> KeyRevoked:
        """Revoke a key of the project with a revocation certificate (or the key carrying its
        revocation signature), verified by GnuPG. The key's owner, or a PMC member.

        Everything in one transaction; :func:`revoke_key` runs GnuPG before it instead.
        """
        read = self.read_revocation(body)
        result = self.write_revocation(read, reason=body.reason)
        if result is None:  # pragma: no cover - nothing changes within one transaction
            raise Conflict(f"key {read.facts.fingerprint} changed while it was being revoked")
        return result

    def read_revocation(self, body: Revocation) -> RevocationRead:
        """GnuPG's reading of the revocation against the stored key, and the releases that
        key signed (no write). 403 unless the principal may revoke that key."""
        stored = self._stored()
        facts = read_revocation(body.armored, stored)
        self._check_may_revoke(facts.fingerprint)
        return RevocationRead(
            facts=facts,
            basis=stored[facts.fingerprint],
            signed=self.signed_by([facts]).get(facts.fingerprint, []),
        )

    def write_revocation(self, read: RevocationRead, *, reason: str) -> KeyRevoked | None:
        """Store the revocation :meth:`read_revocation` read; ``None`` (nothing written) if
        the stored key changed since, so the revocation must be read again."""
        fingerprint = read.facts.fingerprint
        if self._stored([fingerprint], lock=True).get(fingerprint) != read.basis:
            return None
        self._check_may_revoke(fingerprint)
        row, _, flagged = self._save(
            read.facts,
            owner=None,
            now=datetime.now(UTC),
            reason=reason.strip(),
            signed=read.signed,
        )
        self._keys_changed()
        return KeyRevoked(
            key=self._wire(row),
            flagged=RevokedReleases(
                fingerprint=row.fingerprint,
                releases=[f"{self.project.key} {s.version}" for s in flagged],
            ),
        )

    def _check_may_revoke(self, fingerprint: str) -> None:
        row = self._row(fingerprint)
        if row is None:  # pragma: no cover - read_revocation only answers stored keys
            raise NotFound(f"project '{self.project.key}' has no key {fingerprint}")
        owner = self.session.get(models.User, row.owner_user_id) if row.owner_user_id else None
        self._check_may_act_for(owner, "revoking another person's key")


class PmcKeys(CommitterKeys):
    """What a PMC member may do in addition: anyone's key, a whole KEYS file."""

    may_act_for_others = True

    def write_import(
        self,
        read: KeysRead,
        *,
        basis: Mapping[str, str],
        signed: Mapping[str, list[SignedRelease]] | None = None,
    ) -> KeysImportResult | None:
        """Store the keys GnuPG read from a KEYS file (:func:`import_keys_file`): every key
        is kept (flagged if the policy refuses it), every other block is reported.

        ``basis`` is the stored keys that GnuPG merged into ``read``. If the stored copy of
        a key in ``read`` is no longer that one (added, merged or revoked since), nothing is
        written and the answer is ``None``: the file must be read again. ``signed``: the
        releases signed by each key the file newly revokes (:meth:`signed_by`).
        """
        fingerprints = [f.fingerprint for f in read.keys]
        current = self._stored(fingerprints, lock=True)
        if any(current.get(f) != basis.get(f) for f in fingerprints):
            return None
        outcomes: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": []}
        flagged: dict[str, list[str]] = {}
        now = datetime.now(UTC)
        for facts in read.keys:
            owner = _find_owner(self.session, self.project, facts, prefer=None)
            row, outcome, _ = self._save(
                facts, owner=owner, now=now, signed=(signed or {}).get(facts.fingerprint)
            )
            outcomes[outcome].append(row.fingerprint)
            if row.flags:
                flagged[row.fingerprint] = list(row.flags)
        self._event(
            EventKind.KEYS_IMPORTED,
            imported=[f.fingerprint for f in read.keys],
            added=outcomes["added"],
            updated=outcomes["updated"],
            unchanged=len(outcomes["unchanged"]),
            flagged=flagged,
            skipped=[s.model_dump() for s in read.skipped],
        )
        if outcomes["added"] or outcomes["updated"]:
            self._keys_changed()
        return KeysImportResult(
            imported=[f.fingerprint for f in read.keys], skipped=list(read.skipped)
        )


def import_keys_file(
    project: str,
    body: KeysImport,
    *,
    principal: Principal,
    read: Sessions,
    write: Sessions,
    blob_path: BlobPath,
) -> KeysImportResult:
    """Import a KEYS file into ``project`` as ``principal`` (a PMC member), block by block;
    nothing in the file is fatal (see :meth:`PmcKeys.write_import`).

    GnuPG reads the file outside the write transaction: ``read()`` checks the role and
    takes the stored keys; with no session open GnuPG reads the file, merging the stored
    copies of keys it holds; then one ``write()`` transaction checks that those copies did
    not change meanwhile and writes the rows and the event. If they changed (a key of the
    file added, merged or revoked concurrently) it starts again, up to
    :data:`IMPORT_ATTEMPTS` times (then 409). A key that the file newly revokes has the
    project's signatures checked for it in a read session too
    (:meth:`CommitterKeys.signed_by`), to flag the releases it signed.
    """
    for attempt in range(1, IMPORT_ATTEMPTS + 1):
        with read() as session:
            keys = ProjectKeys(session, principal, blob_path=blob_path).as_pmc(project)
            basis = keys.stored_keys()
        keys_read = read_keys_file(body.keys_file, existing=basis)
        with read() as session:  # a key the file newly revokes: the releases it signed
            keys = ProjectKeys(session, principal, blob_path=blob_path).as_pmc(project)
            signed = keys.signed_by(keys_read.keys)
        try:
            with write() as session:
                writer = ProjectKeys(session, principal, blob_path=blob_path).as_pmc(project)
                result = writer.write_import(keys_read, basis=basis, signed=signed)
        except (IntegrityError, WriteCollision):
            # PostgreSQL: a key of the file was inserted by another transaction after the
            # check; this one rolled back, and the next attempt merges into that key.
            if attempt == IMPORT_ATTEMPTS:
                raise
            continue
        if result is not None:
            return result
    raise Conflict(
        f"the keys of project '{project}' kept changing while the KEYS file was imported",
        hint="import it again",
    )


def revoke_key(
    project: str,
    body: Revocation,
    *,
    principal: Principal,
    read: Sessions,
    write: Sessions,
    blob_path: BlobPath,
) -> KeyRevoked:
    """Revoke a key of ``project`` (its owner, or a PMC member), with GnuPG outside the write
    transaction: a read session checks the revocation and finds the releases the key signed
    (every ``.asc`` of the project), then one short transaction stores it, if the stored
    key did not change meanwhile (else it starts again, :data:`IMPORT_ATTEMPTS` times)."""
    for _attempt in range(IMPORT_ATTEMPTS):
        with read() as session:
            keys = ProjectKeys(session, principal, blob_path=blob_path).writer(project)
            revocation = keys.read_revocation(body)
        with write() as session:
            writer = ProjectKeys(session, principal, blob_path=blob_path).writer(project)
            result = writer.write_revocation(revocation, reason=body.reason)
        if result is not None:
            return result
    raise Conflict(
        f"key {revocation.facts.fingerprint} of project '{project}' kept changing while it "
        "was being revoked",
        hint="revoke it again",
    )
