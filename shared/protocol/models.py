"""REST bodies and the records they carry. See the package docstring for the rules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.ids import (
    CommitteeName,
    Fingerprint,
    Id,
    ProjectKey,
    RelPath,
    Sha256,
    UserName,
    Version,
)
from shared.lifecycle import Phase

PROTOCOL_VERSION = 2
"""Bumped on any incompatible change of a model or frame below."""


class Model(BaseModel):
    """Base of every wire model: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- enums -------------------------------------------------------------------------------------


class Role(StrEnum):
    """What a user or token may do, lowest first. ``admin`` administers the agent itself."""

    PUBLIC = "public"
    COMMITTER = "committer"
    PMC = "pmc"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]


_ROLE_RANK = {Role.PUBLIC: 0, Role.COMMITTER: 1, Role.PMC: 2, Role.ADMIN: 3}


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)


class TaskType(StrEnum):
    """Task types the agent's workers run. Each has one handler in ``agent.engine.tasks``."""

    INVENTORY = "inventory"
    """For each file of a revision: size, SHA-512 and, for archives, the member count."""
    DIAGNOSTIC_EMIT = "diagnostic.emit"
    """Operator diagnostic: emit ``count`` log lines at ``rate`` per second (stream checks)."""
    CHECK = "check"
    """One compliance check on one artifact (or the release) of a revision."""
    DISTRIBUTE = "distribute"
    """Publish a distribution's files to one channel, then download them back to verify."""
    ATTEST = "attest"
    """Write a release's signed attestations (its vote passed, its distribution verified)."""
    CODESIGN = "codesign"
    """Sign a revision's Windows or macOS files for their OS, into a new revision."""
    TRIGGER_GIT = "trigger.git"
    """A release tag was pushed: fetch the tagged tree, build the source archive, compose."""
    TRIGGER_DIST = "trigger.dist"
    """A release.toml was committed to dist/dev: take its files into a release."""
    IMPORT_DIST = "import.dist"
    """Record every past release of a project's dist/release (and dist/dev) folder."""


class EventKind(StrEnum):
    """The kinds of record in the agent's append-only event log."""

    COMMITTEE_CREATED = "committee.created"
    PROJECT_CREATED = "project.created"
    USER_CREATED = "user.created"
    USER_KEY_ADDED = "user.key_added"
    MEMBERSHIP_CHANGED = "membership.changed"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    USER_LOGGED_IN = "user.logged_in"
    RELEASE_CREATED = "release.created"
    PHASE_CHANGED = "release.phase_changed"
    REVISION_CREATED = "revision.created"
    BLOB_STORED = "blob.stored"
    TASK_QUEUED = "task.queued"
    TASK_STARTED = "task.started"
    TASK_LOG = "task.log"
    TASK_PROGRESS = "task.progress"
    TASK_RETRY = "task.retry"
    TASK_FINISHED = "task.finished"
    CHECKS_QUEUED = "checks.queued"
    CHECK_FINISHED = "check.finished"
    CHECKS_DONE = "checks.done"
    POLICY_CHANGED = "project.policy_changed"
    SBOM_STORED = "sbom.stored"
    KEY_ADDED = "key.added"
    KEYS_IMPORTED = "keys.imported"
    KEY_REVOKED = "key.revoked"
    RELEASE_FLAGGED = "release.flagged"
    VOTE_STARTED = "vote.started"
    BALLOT_CAST = "vote.ballot_cast"
    BALLOT_REFUSED = "vote.ballot_refused"
    TALLY_CHANGED = "vote.tally_changed"
    VOTE_DECIDED = "vote.decided"
    VOTE_SETTINGS_CHANGED = "project.vote_settings_changed"
    MAIL_QUEUED = "mail.queued"
    MAIL_SENT = "mail.sent"
    MAIL_FAILED = "mail.failed"
    DISTRIBUTION_SETTINGS_CHANGED = "project.distribution_changed"
    DISTRIBUTION_APPROVED = "distribution.approved"
    DISTRIBUTION_STARTED = "distribution.started"
    DISTRIBUTION_STEP = "distribution.step"
    """One file on one channel changed state (data: channel, path, state, url, error)."""
    DISTRIBUTION_RETRIED = "distribution.retried"
    DISTRIBUTION_SETTLED = "distribution.settled"
    """A distribution ended: done and verified, or failed (data: state, channels)."""
    RELEASE_ANNOUNCED = "release.announced"
    CREDENTIAL_SET = "credential.set"
    CREDENTIAL_DELETED = "credential.deleted"
    AUTOMATION_KEY_ADDED = "automation_key.added"
    """A key of the agent's own was generated or imported (data: fingerprint, use, state)."""
    AUTOMATION_KEY_ROTATED = "automation_key.rotated"
    AUTOMATION_KEY_REVOKED = "automation_key.revoked"
    AUTOMATION_KEY_CERTIFIED = "automation_key.certificate_installed"
    AUTOMATION_KEY_EXPIRING = "automation_key.expiring"
    """An automation key or certificate expires within the alarm window (or has expired)."""
    ATTESTATION_WRITTEN = "attestation.written"
    BUILD_RECORDED = "revision.build_recorded"
    """How a revision was built: a trigger's verified facts (a workflow run, a pushed tag, a
    dist/dev commit) or an admin's record (for the SLSA provenance attestation)."""
    SIGNING_SETTINGS_CHANGED = "project.signing_changed"
    CODESIGN_STARTED = "codesign.started"
    CODESIGN_FINISHED = "codesign.finished"
    TRIGGER_RECEIVED = "trigger.received"
    """A trigger arrived (data: source, delivery and what identifies it: run URL, delivery
    id, svn revision, user)."""
    TRIGGER_REFUSED = "trigger.refused"
    TRIGGER_FINISHED = "trigger.finished"
    SIGNATURES_REQUESTED = "release.signatures_requested"
    """A trigger built artifacts: the release manager is asked to sign them on their machine."""
    RELEASE_IMPORTED = "release.imported"
    TRUSTED_PUBLISHER_CHANGED = "project.trusted_publisher_changed"
    TRIGGER_SETTINGS_CHANGED = "project.trigger_settings_changed"


# --- errors and health ------------------------------------------------------------------------


class ErrorBody(Model):
    """Every error response: a stable machine code and a sentence for people."""

    code: str = Field(
        description="stable code, e.g. 'not_found', 'forbidden', 'invalid_transition'"
    )
    message: str
    hint: str | None = None


class Health(Model):
    status: str = "ok"
    version: str
    protocol: int = PROTOCOL_VERSION
    last_event_id: int


# --- people and organisation ------------------------------------------------------------------


class Committee(Model):
    name: CommitteeName
    display_name: str
    podling: bool = False


class CommitteeCreate(Model):
    name: CommitteeName
    display_name: str | None = None
    podling: bool = False


class Project(Model):
    key: ProjectKey
    name: str
    committee: CommitteeName


class ProjectCreate(Model):
    key: ProjectKey
    name: str | None = None
    committee: CommitteeName


class Membership(Model):
    committee: CommitteeName
    role: Role


class UserKey(Model):
    fingerprint: Fingerprint
    algorithm: str
    bits: int | None
    user_ids: list[str]
    created_at: datetime


class User(Model):
    name: UserName
    email: str
    is_admin: bool = False
    memberships: list[Membership] = []
    keys: list[UserKey] = []


class UserCreate(Model):
    name: UserName
    email: str
    public_key: str = Field(description="ASCII-armored OpenPGP public key")
    is_admin: bool = False
    memberships: list[Membership] = []


# --- auth -------------------------------------------------------------------------------------


class TokenRequest(Model):
    """The API token a signed token challenge asks for (for the user who signs it)."""

    project: ProjectKey | None = Field(default=None, description="limit the token to one project")
    role: Role = Role.COMMITTER
    label: str = Field(default="", max_length=200)
    expires_in_days: int = Field(default=90, ge=1, le=3650)


class ChallengeRequest(Model):
    user: UserName
    purpose: Literal["login", "token"] = Field(
        default="login",
        description="login: a session token (POST /auth/login); token: the API token described "
        "by 'token' (POST /auth/token)",
    )
    token: TokenRequest | None = Field(
        default=None, description="the API token wanted (purpose 'token' only)"
    )


class ChallengeResponse(Model):
    challenge_id: str = Field(max_length=64)
    challenge: str = Field(
        description="the text to sign (shared.challenge): a detached text signature (class "
        "0x01) with the notation purpose@atr.apache.org=<purpose>"
    )
    expires_at: datetime


class LoginRequest(Model):
    challenge_id: str = Field(max_length=64)
    signature: str = Field(
        max_length=65536,
        description="ASCII-armored detached OpenPGP text signature of the challenge",
    )


class LoginResponse(Model):
    token: str
    expires_at: datetime
    user: User


class TokenCreate(Model):
    user: UserName | None = Field(default=None, description="admins may create tokens for others")
    project: ProjectKey | None = Field(default=None, description="limit the token to one project")
    role: Role = Role.COMMITTER
    label: str = Field(default="", max_length=200)
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="default: 90 days, or until the creating token expires if that is sooner; "
        "a token never outlives the token that creates it",
    )


class TokenInfo(Model):
    id: int
    user: UserName
    project: ProjectKey | None
    role: Role
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(Model):
    token: str = Field(description="shown once; the agent keeps only its hash")
    info: TokenInfo


# --- releases ---------------------------------------------------------------------------------


class Release(Model):
    project: ProjectKey
    version: Version
    phase: Phase
    created_at: datetime
    created_by: UserName
    updated_at: datetime
    latest_revision: int | None = None


class ReleaseCreate(Model):
    version: Version


class TransitionRequest(Model):
    to: Phase
    reason: str = ""


class BlobInfo(Model):
    sha256: Sha256
    sha512: str
    size: int


class RevisionFile(Model):
    path: RelPath
    size: int
    sha256: Sha256
    sha512: str


class Revision(Model):
    project: ProjectKey
    version: Version
    number: int
    created_at: datetime
    created_by: UserName
    message: str
    files: list[RevisionFile]


class RevisionCreate(Model):
    """A new revision: the ``base`` revision's files (``None``: start empty), with ``files``
    added or replaced (path → SHA-256 of an uploaded blob) and ``remove`` taken out."""

    base: Id | None = None
    files: dict[RelPath, Sha256] = {}
    remove: list[RelPath] = []
    message: str = ""


# --- tasks and events -------------------------------------------------------------------------


class TaskCreate(Model):
    type: TaskType
    project: ProjectKey
    version: Version
    revision: Id | None = Field(default=None, description="default: the latest revision")
    args: dict[str, Any] = {}


class Task(Model):
    id: int
    type: TaskType
    state: TaskState
    project: ProjectKey | None
    version: Version | None
    revision: int | None
    args: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_attempts: int
    created_at: datetime
    created_by: UserName | None
    started_at: datetime | None
    finished_at: datetime | None


class Event(Model):
    """One record of the append-only event log. ``id`` increases monotonically."""

    id: int
    at: datetime
    kind: EventKind
    actor: str | None = None
    project: ProjectKey | None = None
    version: Version | None = None
    task_id: int | None = None
    data: dict[str, Any] = {}


class EventPage(Model):
    events: list[Event]
    next_since: int = Field(description="pass as since= to get the events after this page")


class Scope(Model):
    """Which events a subscriber wants: all (both None), a project, or one release."""

    project: ProjectKey | None = None
    version: Version | None = None

    def matches(self, event: Event) -> bool:
        if self.project is not None and event.project != self.project:
            return False
        return self.version is None or event.version == self.version
