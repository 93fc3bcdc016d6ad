"""The agent's tables. Times are stored as timezone-aware UTC datetimes.

Rows are written only through :mod:`agent.store` (by role, recording an event)
and :mod:`agent.engine` (the task queue and the event log).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that always comes back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Committee(Base):
    __tablename__ = "committees"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    podling: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    projects: Mapped[list[Project]] = relationship(back_populates="committee")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dev_list: Mapped[str | None] = mapped_column(String(320), nullable=True)
    """The project's dev mailing list (votes and results go there); default dev@<key>.apache.org."""
    private_list: Mapped[str | None] = mapped_column(String(320), nullable=True)
    vote_min_hours: Mapped[int] = mapped_column(Integer, default=72, server_default="72")
    vote_mail_from: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    """Who the [VOTE] mail is from: 'agent' (the agent's address, Reply-To the list and the
    release manager) or 'release_manager' (From the release manager, Sender the agent)."""
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """The project's check policy (shared.checks.policy.Policy as JSON)."""
    policy_updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy_updated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    distribution: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """Where the project's releases go (shared.protocol.distribute.DistributionSettings)."""

    committee: Mapped[Committee] = relationship(back_populates="projects")
    releases: Mapped[list[Release]] = relationship(back_populates="project")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    keys: Mapped[list[UserKey]] = relationship(back_populates="user", order_by="UserKey.id")
    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


class UserKey(Base):
    """A user's registered OpenPGP public key (login signatures are checked against these)."""

    __tablename__ = "user_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(40), unique=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    bits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    armored: Mapped[str] = mapped_column(Text)
    """The public key; once revoked anywhere, with its revocation signature."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """Set when the key is revoked through any project's keys: it no longer logs in or signs."""
    revocation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    user: Mapped[User] = relationship(back_populates="keys")


class Membership(Base):
    """A user's role on a committee: ``pmc`` or ``committer``."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "committee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id"))
    role: Mapped[str] = mapped_column(String(16))

    user: Mapped[User] = relationship(back_populates="memberships")
    committee: Mapped[Committee] = relationship()


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    version: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="releases")
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="release", order_by="Revision.number"
    )


class Blob(Base):
    """An immutable uploaded file, stored under the data dir by its SHA-256."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha512: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Revision(Base):
    """An immutable set of files of a release: a manifest path → blob."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("release_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    number: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    release: Mapped[Release] = relationship(back_populates="revisions")
    files: Mapped[list[RevisionFile]] = relationship(order_by="RevisionFile.path")


class RevisionFile(Base):
    __tablename__ = "revision_files"

    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))

    blob: Mapped[Blob] = relationship()


class Task(Base):
    """A unit of work for the workers. Claimed with a lease that the worker heartbeats."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_claim", "state", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    project: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Event(Base):
    """The append-only event log. Ids increase monotonically in commit order."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_release", "project", "version", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiToken(Base):
    """An API token, stored as the SHA-256 of its secret. ``kind`` is ``api`` or ``session``."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="api")
    label: Mapped[str] = mapped_column(String(200), default="")
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)

    user: Mapped[User] = relationship()


class LoginChallenge(Base):
    """A one-time text a desktop user signs to log in. Expires; used at most once."""

    __tablename__ = "login_challenges"
    __table_args__ = (Index("ix_login_challenges_user", "user_name", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64))
    challenge: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


# --- compliance checks (issue 3) ----------------------------------------------------------------


class CheckRun(Base):
    """One check on one artifact (or the whole release) of a revision, run by one task.

    ``input_hash`` covers the check id and version, the inputs' SHA-256s, the
    policy and the keys: a run with the same hash that finished is reused.
    """

    __tablename__ = "check_runs"
    __table_args__ = (
        UniqueConstraint("revision_id", "check_id", "artifact"),
        Index("ix_check_runs_input", "input_hash", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), index=True)
    check_id: Mapped[str] = mapped_column(String(64))
    check_version: Mapped[int] = mapped_column(Integer)
    artifact: Mapped[str] = mapped_column(String(1024), default="")
    """The artifact's path, or '' for a release-scoped check."""
    input_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    """queued, running, done (results stored), error (the check could not run)."""
    task_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reused_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)

    results: Mapped[list[CheckResultRow]] = relationship(
        back_populates="run", order_by="CheckResultRow.id", cascade="all, delete-orphan"
    )


class CheckResultRow(Base):
    """One result of a check run (shared.checks.base.CheckResult)."""

    __tablename__ = "check_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("check_runs.id"), index=True)
    path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    run: Mapped[CheckRun] = relationship(back_populates="results")


class RevisionSbom(Base):
    """The CycloneDX SBOM generated for one artifact of a revision, kept as a blob."""

    __tablename__ = "revision_sboms"

    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), primary_key=True)
    artifact: Mapped[str] = mapped_column(String(1024), primary_key=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- keys, votes and mail (issue 4) ---------------------------------------------------------------


class ProjectKey(Base):
    """A key in a project's KEYS file: never deleted once it signed a release; revocation kept."""

    __tablename__ = "project_keys"
    __table_args__ = (UniqueConstraint("project_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(40))
    armored: Mapped[str] = mapped_column(Text)
    """The public key as last imported, revocation signature included once revoked."""
    algorithm: Mapped[str] = mapped_column(String(32))
    bits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    key_created_at: Mapped[datetime | None] = mapped_column(nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Policy findings kept for old releases: 'weak', 'expired', 'revoked', 'dsa', ..."""
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Vote(Base):
    """A release vote on a candidate revision: on the project's list, or the Incubator's."""

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    round: Mapped[str] = mapped_column(String(16), default="project")
    """'project' (binding: the committee's PMC) or 'incubator' (binding: the IPMC)."""
    list_address: Mapped[str] = mapped_column(String(320))
    security: Mapped[bool] = mapped_column(Boolean, default=False)
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="open")
    """open, passed, failed, cancelled."""
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    tally: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    thread_message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    source_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The tag or commit the candidate was built from, as the vote's starter gave it."""
    source_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    release_notes_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    thread_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    """The vote's thread in the list archive, once known (an imported Pony Mail thread)."""

    ballots: Mapped[list[Ballot]] = relationship(back_populates="vote", order_by="Ballot.id")


class Ballot(Base):
    """One vote cast: in the desktop (clear-signed) or read from the mailing list."""

    __tablename__ = "ballots"

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    voter: Mapped[str] = mapped_column(String(320))
    """The user name, or the sender's address for an email ballot from an unknown sender."""
    value: Mapped[int] = mapped_column(Integer)
    """+1, 0 or -1."""
    binding: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16))
    """'desktop' (a desktop login session), 'api' (an API token: the CLI) or 'email'."""
    comment: Mapped[str] = mapped_column(Text, default="")
    signed_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    fingerprint: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reviewed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Artifact path → SHA-512 the voter reviewed."""
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    cast_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    """A later ballot of the same person replaced this one (the last vote counts)."""

    vote: Mapped[Vote] = relationship(back_populates="ballots")


class OutboxMessage(Base):
    """An email to send. Delivered by SMTP with retries, or written to the data dir's outbox."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    """vote, ballot, result, failure, summary, announce, ..."""
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    """queued, sent, failed (gave up after the last attempt)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


# --- distribution (issue 7) -----------------------------------------------------------------------


class Distribution(Base):
    """A release going to its channels: the staging of a candidate, or the production release.

    A production distribution is created when its plan is approved (``approved``) and
    runs once started; a staging one needs no approval. ``plan`` is the plan as approved
    (or staged); ``digest`` its ``sha256:`` digest.
    """

    __tablename__ = "distributions"

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    kind: Mapped[str] = mapped_column(String(16))
    """staging or production."""
    rc: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The candidate number of a staging (``<version>-rc<N>``)."""
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(16))
    """approved, running, done, failed, verified."""
    approval_signed: Mapped[str | None] = mapped_column(Text, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_fingerprint: Mapped[str | None] = mapped_column(String(40), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    dist_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """When the files reached the dist repository (the announcement waits after it)."""
    summary_sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    announced_at: Mapped[datetime | None] = mapped_column(nullable=True)

    steps: Mapped[list[DistributionStep]] = relationship(
        back_populates="distribution", order_by="DistributionStep.position"
    )


class DistributionStep(Base):
    """One file on one channel (or one manual step), with its own state and attempts."""

    __tablename__ = "distribution_steps"
    __table_args__ = (UniqueConstraint("distribution_id", "channel", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    distribution_id: Mapped[int] = mapped_column(ForeignKey("distributions.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    """The release path of the file; for a manual step, its text."""
    sha512: Mapped[str] = mapped_column(String(128), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    target: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    """pending, running, done, failed, manual."""
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    uploaded: Mapped[bool] = mapped_column(Boolean, default=False)
    """True if this agent sent the bytes; False if the channel had them already."""
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    distribution: Mapped[Distribution] = relationship(back_populates="steps")


class Credential(Base):
    """A registry credential in the agent's vault: the secret encrypted with the operator's key,
    usable only by the channels it is bound to. Never returned by any API."""

    __tablename__ = "credentials"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(256), default="")
    ciphertext: Mapped[str] = mapped_column(Text)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- provenance (issue 8) -------------------------------------------------------------------------


class AutomationKey(Base):
    """One of the agent's own keys: the attestation key, or a code-signing key and certificate.

    The private key is kept only as ``private_ciphertext`` (PKCS#8, encrypted with the vault's
    key, the fingerprint as associated data); nothing returns it. ``state``: pending (a
    code-signing key waiting for its certificate), active (one per use), retired, revoked.
    """

    __tablename__ = "automation_keys"
    __table_args__ = (
        Index(
            "ux_automation_keys_active_use",
            "use",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    use: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    public_pem: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The certificate and its chain, leaf first."""
    csr_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    private_ciphertext: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(400), nullable=True)
    issuer: Mapped[str | None] = mapped_column(String(400), nullable=True)
    serial: Mapped[str | None] = mapped_column(String(80), nullable=True)
    self_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    not_before: Mapped[datetime | None] = mapped_column(nullable=True)
    not_after: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    activated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    alarms: Mapped[list[int]] = mapped_column(JSON, default=list)
    """The expiry thresholds (days before not_after) already announced by mail."""


class Attestation(Base):
    """A signed in-toto attestation of a release: its DSSE envelope, as written."""

    __tablename__ = "attestations"

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    kind: Mapped[str] = mapped_column(String(16))
    """release, vote, slsa, distribution, codesign."""
    predicate_type: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(64))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    distribution_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProvenanceFile(Base):
    """A file the agent adds to a release after its vote, distributed with it to the dist
    repository: the attestation bundle, and the SBOMs that name the release."""

    __tablename__ = "provenance_files"

    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    kind: Mapped[str] = mapped_column(String(16))
    """bundle or sbom."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    blob: Mapped[Blob] = relationship()


class RevisionBuild(Base):
    """How a revision was built. ``source`` says who vouches for it: ``github-oidc`` (a
    workflow run that published with its OIDC token), ``webhook`` (this agent, from a pushed
    tag), ``svn`` (a release.toml committed to dist/dev) or ``admin`` (recorded through the
    API). ``facts`` are what that source verified (agent.triggers.builds); ``record`` is the
    build as SLSA describes it (shared.protocol.provenance.BuildRecord), when the source
    names one: the SLSA provenance attestation is made of it."""

    __tablename__ = "revision_builds"

    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), default="admin")
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectSigning(Base):
    """A project's optional OS signatures (shared.protocol.provenance.SigningSettings)."""

    __tablename__ = "project_signing"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CodesignRun(Base):
    """Files of a revision signed for an OS (Authenticode, Apple) into a new revision."""

    __tablename__ = "codesign_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """windows or macos."""
    state: Mapped[str] = mapped_column(String(16))
    """queued, running, done, failed, manual."""
    method: Mapped[str] = mapped_column(String(32))
    from_revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    to_revision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    instructions: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


# --- triggers, imported history (issue 9) ---------------------------------------------------------


class TrustedPublisherRow(Base):
    """A workflow allowed to publish a project's candidates with its OIDC token (no secret)."""

    __tablename__ = "trusted_publishers"
    __table_args__ = (
        UniqueConstraint("project_id", "issuer", "repository", "workflow", "environment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    repository: Mapped[str] = mapped_column(String(200), index=True)
    workflow: Mapped[str] = mapped_column(String(200))
    refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    environment: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship()


class TriggerSettingsRow(Base):
    """How a project's releases may start by themselves: tag pushes, dist/dev commits."""

    __tablename__ = "trigger_settings"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    git_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    tag_pattern: Mapped[str] = mapped_column(String(200))
    archive_name: Mapped[str] = mapped_column(String(200))
    release_manager: Mapped[str | None] = mapped_column(String(64), nullable=True)
    watch_dist: Mapped[bool] = mapped_column(Boolean, default=True)
    webhook_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The webhook's HMAC secret, encrypted with the vault key (never returned)."""
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriggerDelivery(Base):
    """One trigger received, once: a webhook delivery, an svn revision, an OIDC exchange.

    ``(source, delivery)`` is unique (a redelivery is a no-op) and so is ``(source,
    identity)`` where an identity is known (the same push under another delivery id is a
    replay, refused).
    """

    __tablename__ = "trigger_deliveries"
    __table_args__ = (
        UniqueConstraint("source", "delivery"),
        UniqueConstraint("source", "identity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    delivery: Mapped[str] = mapped_column(String(200))
    identity: Mapped[str | None] = mapped_column(String(500), nullable=True)
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    """accepted, done, failed, ignored"""
    detail: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    task_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class SvnWatch(Base):
    """How far the dist-repository watcher has read a repository."""

    __tablename__ = "svn_watch"

    url: Mapped[str] = mapped_column(String(1024), primary_key=True)
    last_revision: Mapped[int] = mapped_column(Integer)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class OidcGrant(Base):
    """An upload token handed to a workflow run, and the claims it was handed for."""

    __tablename__ = "oidc_grants"

    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), primary_key=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("trusted_publishers.id"))
    project: Mapped[str] = mapped_column(String(64))
    jti: Mapped[str] = mapped_column(String(200), unique=True)
    """The JWT's id: one OIDC token buys one upload token."""
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportedReleaseRow(Base):
    """A release recorded from an existing dist/release (or dist/dev) folder."""

    __tablename__ = "imported_releases"

    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), primary_key=True)
    area: Mapped[str] = mapped_column(String(16))
    """release or dev"""
    source_url: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(String(1024))
    svn_revision: Mapped[int] = mapped_column(Integer)
    released_at: Mapped[datetime] = mapped_column()
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
