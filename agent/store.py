"""Every write of the agent, by role, and the reads that answer the API.

Writes go through capability objects: ``Store(session, principal)`` hands out a
writer for a tier only if the principal holds that role, and a write method
exists only on the tier allowed to call it::

    store = Store(session, principal)
    store.as_admin().create_project(ProjectCreate(...))          # admin
    store.as_committer("widgets").create_release(ReleaseCreate(...))
    store.as_pmc("widgets").transition("1.0.0", TransitionRequest(to=Phase.VOTE))
    store.as_user().create_token(TokenCreate(...))                # any authenticated user

Each write appends its event with :func:`agent.engine.events.append_event` in
the same transaction. Reads are plain functions of a session that return
protocol models. The caller owns the transaction (and notifies the event bus
after commit).

Errors raised here (all :class:`shared.errors.AtrError`)::

    NotFound         404  no such committee, project, release, revision, task, token, user
    Conflict         409  already exists, wrong phase for the action, no revision yet
    Unauthenticated  401  no or unusable credentials
    Forbidden        403  the role held is lower than the role needed
    RateLimited      429  too many requests of a kind (login challenges) in a minute
    ValidationError  400  (shared.errors) input that breaks a rule
    TransitionError  409  (shared.errors) a phase change the lifecycle forbids
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from agent.db import models
from agent.engine import queue
from agent.engine.events import append_event, to_wire
from shared import openpgp  # its pgpy half loads on first use (a key registered)
from shared import protocol as p
from shared.errors import AtrError, ValidationError
from shared.ids import MAX_ID
from shared.lifecycle import INITIAL_PHASE, MUTABLE_PHASES, Phase, check_transition
from shared.openpgp.gnupg import Keyring
from shared.openpgp.policy import release_problems
from shared.protocol import EventKind, Role

OPERATOR = "atr-agent"
"""The actor name of writes made by the operator through the ``atr-agent`` CLI."""

TOKEN_PREFIX = "atr_"
COMMITTER_TRANSITIONS = frozenset({(Phase.COMPOSE, Phase.CHECKS), (Phase.CHECKS, Phase.COMPOSE)})
"""Phase changes a committer may make; every other one needs the PMC role."""
DEFAULT_TOKEN_DAYS = 90
"""How long a new API token lives when no lifetime is asked for (at most its creator's)."""
MAX_EVENT_PAGE = 1000


# --- errors -------------------------------------------------------------------------------------


class NotFound(AtrError):
    """The thing asked for does not exist."""


class Conflict(AtrError):
    """The request clashes with the current state (exists already, wrong phase, ...)."""


class NotReady(Conflict):
    """What was asked for is being made and will be there in a moment (409 with
    ``Retry-After``: ``retry_after`` seconds); asking again then is the right answer."""

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class WriteCollision(Conflict):
    """A unique key broken by a change committed at the same moment (PostgreSQL runs
    writers side by side); the transaction was rolled back and may simply be retried."""


class Unauthenticated(AtrError):
    """No credentials, or credentials that cannot be used (unknown, expired, revoked)."""


class Forbidden(AtrError):
    """The principal's role is lower than the action needs."""


class RateLimited(AtrError):
    """Too many requests of one kind in a short time (429); ``retry_after`` in seconds."""

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


# --- who is acting ------------------------------------------------------------------------------


def _lower(a: Role, b: Role) -> Role:
    return a if a.rank <= b.rank else b


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: a user through a token (or the operator through the CLI)."""

    name: str
    user_id: int | None
    is_admin: bool
    token_role: Role
    token_project: str | None = None
    token_id: int | None = None
    token_expires_at: datetime | None = None
    """When the token acting expires (``None``: the operator, who has no token)."""
    token_kind: str = "api"
    """``session`` for a desktop login (a challenge signed with the user's key), ``api`` for
    an API token (the CLI, automation)."""
    memberships: Mapping[str, Role] = field(default_factory=dict)
    """committee name → the user's role on it"""

    @classmethod
    def operator(cls) -> Principal:
        """The operator at the agent host's shell: every right, no user row."""
        return cls(name=OPERATOR, user_id=None, is_admin=True, token_role=Role.ADMIN)

    @property
    def highest_role(self) -> Role:
        """The highest role the user holds anywhere (ignoring the token's limits)."""
        if self.is_admin:
            return Role.ADMIN
        best = Role.PUBLIC
        for role in self.memberships.values():
            if role.rank > best.rank:
                best = role
        return best

    def user_role(self, committee: str) -> Role:
        """The user's own role on ``committee`` (admins have every role)."""
        if self.is_admin:
            return Role.ADMIN
        return self.memberships.get(committee, Role.PUBLIC)

    def role_for(self, project: str, committee: str) -> Role:
        """The effective role on ``project``: the lower of the token's and the user's role."""
        if self.token_project is not None and self.token_project != project:
            return Role.PUBLIC
        return _lower(self.token_role, self.user_role(committee))

    @property
    def admin_role(self) -> Role:
        """The role for agent-wide actions; a project-scoped token never administers."""
        if self.token_project is not None:
            return _lower(self.token_role, Role.PMC)
        return _lower(self.token_role, self.highest_role)


def require_role(
    principal: Principal,
    needed: Role,
    *,
    what: str,
    project: str | None = None,
    committee: str | None = None,
) -> None:
    """Raise :class:`Forbidden` naming the role needed unless ``principal`` holds it."""
    if project is not None and committee is not None:
        held = principal.role_for(project, committee)
        where = f" on project '{project}'"
        if principal.token_project not in (None, project):
            raise Forbidden(
                f"{what} needs the '{needed}' role{where}; this token is limited to project "
                f"'{principal.token_project}'",
                hint="use a token for this project or an unscoped token",
            )
    else:
        held = principal.admin_role
        where = ""
    if held.rank < needed.rank:
        raise Forbidden(
            f"{what} needs the '{needed}' role{where}; you have '{held}'",
            hint="ask an admin for the role, or use a token that carries it",
        )


def require_manager(principal: Principal, release: models.Release, *, what: str) -> None:
    """Refuse (403) unless ``principal`` is a PMC member of the release's project, or its
    release manager (the committer who created it)."""
    project = release.project
    role = principal.role_for(project.key, project.committee.name)
    if role.rank >= Role.PMC.rank:
        return
    if principal.name == release.created_by and role.rank >= Role.COMMITTER.rank:
        return
    raise Forbidden(
        f"{what} needs the 'pmc' role on project '{project.key}', or being the release "
        f"manager of {project.key} {release.version} ({release.created_by})",
        hint="ask a PMC member or the release manager",
    )


# --- tokens -------------------------------------------------------------------------------------


def generate_token() -> str:
    """A new token secret: ``atr_`` and 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    user: models.User,
    role: Role,
    project: str | None,
    label: str,
    expires_at: datetime,
    kind: str,
    actor: str,
    signed_by: str | None = None,
) -> tuple[str, models.ApiToken]:
    """Create a token row (storing only its hash) and its TOKEN_CREATED event
    (``signed_by``: the fingerprint of the key whose signature asked for it)."""
    secret = generate_token()
    row = models.ApiToken(
        user_id=user.id,
        token_hash=hash_token(secret),
        kind=kind,
        label=label,
        project=project,
        role=role.value,
        expires_at=expires_at,
    )
    row.user = user
    session.add(row)
    session.flush()
    append_event(
        session,
        EventKind.TOKEN_CREATED,
        actor=actor,
        project=project,
        data={
            "token_id": row.id,
            "user": user.name,
            "role": role.value,
            "kind": kind,
            "label": label,
            "expires_at": expires_at.isoformat(),
            **({"signed_by": signed_by} if signed_by else {}),
        },
    )
    return secret, row


# --- conversions to the wire --------------------------------------------------------------------


def committee_to_wire(row: models.Committee) -> p.Committee:
    return p.Committee(name=row.name, display_name=row.display_name, podling=row.podling)


def project_to_wire(row: models.Project) -> p.Project:
    return p.Project(key=row.key, name=row.name, committee=row.committee.name)


def user_to_wire(row: models.User) -> p.User:
    return p.User(
        name=row.name,
        email=row.email,
        is_admin=row.is_admin,
        memberships=sorted(
            (p.Membership(committee=m.committee.name, role=Role(m.role)) for m in row.memberships),
            key=lambda m: m.committee,
        ),
        keys=[
            p.UserKey(
                fingerprint=k.fingerprint,
                algorithm=k.algorithm,
                bits=k.bits,
                user_ids=list(k.user_ids),
                created_at=k.created_at,
            )
            for k in row.keys
        ],
    )


def _latest_revision_number(session: Session, release_id: int) -> int | None:
    return session.scalar(
        select(func.max(models.Revision.number)).where(models.Revision.release_id == release_id)
    )


def release_to_wire(session: Session, row: models.Release) -> p.Release:
    return p.Release(
        project=row.project.key,
        version=row.version,
        phase=Phase(row.phase),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        latest_revision=_latest_revision_number(session, row.id),
    )


def revision_to_wire(row: models.Revision) -> p.Revision:
    return p.Revision(
        project=row.release.project.key,
        version=row.release.version,
        number=row.number,
        created_at=row.created_at,
        created_by=row.created_by,
        message=row.message,
        files=[
            p.RevisionFile(
                path=f.path, size=f.blob.size, sha256=f.blob.sha256, sha512=f.blob.sha512
            )
            for f in row.files
        ],
    )


def task_to_wire(row: models.Task) -> p.Task:
    return p.Task(
        id=row.id,
        type=p.TaskType(row.type),
        state=p.TaskState(row.state),
        project=row.project,
        version=row.version,
        revision=row.revision,
        args=row.args or {},
        result=row.result,
        error=row.error,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        created_at=row.created_at,
        created_by=row.created_by,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def token_to_wire(row: models.ApiToken) -> p.TokenInfo:
    return p.TokenInfo(
        id=row.id,
        user=row.user.name,
        project=row.project,
        role=Role(row.role),
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


# --- lookups shared by reads and writes ---------------------------------------------------------


def _committee_row(session: Session, name: str) -> models.Committee:
    row = session.scalar(select(models.Committee).where(models.Committee.name == name))
    if row is None:
        raise NotFound(
            f"no committee named '{name}'", hint="check the name against the committee list"
        )
    return row


def project_row(session: Session, key: str) -> models.Project:
    """The project ``key`` (404 ``no project`` otherwise)."""
    row = session.scalar(select(models.Project).where(models.Project.key == key))
    if row is None:
        raise NotFound(f"no project '{key}'", hint="check the key against the project list")
    return row


def _user_row(session: Session, name: str) -> models.User:
    row = session.scalar(select(models.User).where(models.User.name == name))
    if row is None:
        raise NotFound(f"no user named '{name}'")
    return row


def release_row(
    session: Session, project: str, version: str, *, lock: bool = False
) -> models.Release:
    """The release ``project`` ``version`` (``lock``: FOR UPDATE); 404 naming what is missing."""
    query = (
        select(models.Release)
        .join(models.Project)
        .where(models.Project.key == project, models.Release.version == version)
    )
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        project_row(session, project)
        raise NotFound(f"project '{project}' has no release '{version}'")
    return row


def revision_row(session: Session, release: models.Release, number: int | None) -> models.Revision:
    """Revision ``number`` of ``release`` (``None``: its latest); 404 otherwise."""
    if number is None:
        number = _latest_revision_number(session, release.id)
        if number is None:
            raise NotFound(
                f"release {release.project.key} {release.version} has no revision yet",
                hint="upload files and create a revision first",
            )
    row = session.scalar(
        select(models.Revision).where(
            models.Revision.release_id == release.id, models.Revision.number == number
        )
    )
    if row is None:
        raise NotFound(f"release {release.project.key} {release.version} has no revision {number}")
    return row


def release_revision(
    session: Session, project: str, version: str, number: int | None
) -> models.Revision:
    """Revision ``number`` (``None``: the latest) of the release ``project`` ``version``."""
    return revision_row(session, release_row(session, project, version), number)


def project_for(
    session: Session, principal: Principal, key: str, needed: Role, *, what: str
) -> models.Project:
    """The project ``key``, if ``principal`` holds ``needed`` on it (404, then 403)."""
    row = project_row(session, key)
    require_role(principal, needed, what=what, project=row.key, committee=row.committee.name)
    return row


def principal_for_user(user: models.User, *, token: models.ApiToken) -> Principal:
    """The principal of ``user`` acting through ``token``."""
    return Principal(
        name=user.name,
        user_id=user.id,
        is_admin=user.is_admin,
        token_role=Role(token.role),
        token_project=token.project,
        token_id=token.id,
        token_expires_at=token.expires_at,
        token_kind=token.kind,
        memberships={m.committee.name: Role(m.role) for m in user.memberships},
    )


# --- rows shared by writers --------------------------------------------------------------------


def add_blob_row(session: Session, *, sha256: str, sha512: str, size: int) -> bool:
    """Record a blob the :class:`agent.blobs.BlobStore` holds, once: ``True`` if this call
    added its ``blobs`` row, ``False`` if it was there already. The caller records its own
    event (an upload's ``blob.stored``, a check's ``sbom.stored``)."""
    # INSERT ... ON CONFLICT DO NOTHING: two uploads of the same file at once (a retry, two
    # release managers) both succeed; a check-then-insert lost the race with a key error
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(models.Blob)
        .values(sha256=sha256, sha512=sha512, size=size)
        .on_conflict_do_nothing(index_elements=[models.Blob.sha256])
        .returning(models.Blob.sha256)  # a row only if this statement inserted it
    )
    return session.execute(statement).first() is not None


def check_token_terms(
    session: Session, user: models.User, *, project: str | None, role: Role
) -> None:
    """Refuse a token for ``user`` on ``project`` (None: every project) with a ``role`` the
    user does not hold there, or for a project that does not exist."""
    committee = project_row(session, project).committee.name if project is not None else None
    if user.is_admin:
        held = Role.ADMIN
    else:
        roles = {m.committee.name: Role(m.role) for m in user.memberships}
        if committee is None:
            held = max(roles.values(), key=lambda r: r.rank, default=Role.PUBLIC)
        else:
            held = roles.get(committee, Role.PUBLIC)
    if role.rank > held.rank:
        where = f" on project '{project}'" if project else ""
        raise ValidationError(
            f"user '{user.name}' holds the role '{held}'{where}; a token cannot carry '{role}'",
            hint="ask for a lower role",
        )


def issue_signed_token(
    session: Session,
    user: models.User,
    *,
    project: str | None,
    role: Role,
    label: str,
    expires_at: datetime,
    fingerprint: str,
) -> p.TokenCreated:
    """The API token a user asked for with a fresh signature of their key (``POST
    /auth/token``): bounded by the user's own role, not by any other token."""
    check_token_terms(session, user, project=project, role=role)
    secret, row = issue_token(
        session,
        user=user,
        role=role,
        project=project,
        label=label,
        expires_at=expires_at,
        kind="api",
        actor=user.name,
        signed_by=fingerprint,
    )
    return p.TokenCreated(token=secret, info=token_to_wire(row))


# --- the store and its tiers --------------------------------------------------------------------


class Store:
    """Hands out writers by role for one transaction (``session``) and one ``principal``."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def as_admin(self) -> AdminWriter:
        """Administration: committees, projects, users, keys, tokens for anyone."""
        require_role(self.principal, Role.ADMIN, what="administering the agent")
        return AdminWriter(self.session, self.principal)

    def as_user(self) -> UserWriter:
        """What any authenticated user may do for themselves (their own tokens)."""
        if self.principal.user_id is None and not self.principal.is_admin:
            raise Unauthenticated("this needs a logged-in user")
        return UserWriter(self.session, self.principal)

    def as_uploader(self) -> UploaderWriter:
        """Storing blobs: a committer of at least one project (or of the token's project)."""
        principal = self.principal
        if principal.token_project is not None:
            project = project_row(self.session, principal.token_project)
            require_role(
                principal,
                Role.COMMITTER,
                what="uploading files",
                project=project.key,
                committee=project.committee.name,
            )
        else:
            require_role(principal, Role.COMMITTER, what="uploading files")
        return UploaderWriter(self.session, principal)

    def as_committer(self, project: str) -> CommitterWriter:
        """A committer of ``project``: releases, revisions, tasks, compose ⇄ checks."""
        row = project_for(
            self.session,
            self.principal,
            project,
            Role.COMMITTER,
            what=f"changing releases of '{project}'",
        )
        return CommitterWriter(self.session, self.principal, row)

    def as_pmc(self, project: str) -> PmcWriter:
        """A PMC member of ``project``: every phase change."""
        row = project_for(
            self.session,
            self.principal,
            project,
            Role.PMC,
            what=f"this phase change of a '{project}' release",
        )
        return PmcWriter(self.session, self.principal, row)

    def for_transition(self, project: str, version: str, to: Phase) -> CommitterWriter:
        """The lowest tier allowed to move ``project`` ``version`` to ``to``.

        An impossible change is refused first (409), so the message says what is wrong
        with the change rather than who may make it.
        """
        release = release_row(self.session, project, version)
        check_transition(Phase(release.phase), to)
        if (Phase(release.phase), to) in COMMITTER_TRANSITIONS:
            return self.as_committer(project)
        return self.as_pmc(project)


class _Writer:
    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def _event(self, kind: EventKind, **kwargs: Any) -> models.Event:
        return append_event(self.session, kind, actor=self.principal.name, **kwargs)

    def _create_token(
        self, user: models.User, body: p.TokenCreate, *, max_days: float
    ) -> p.TokenCreated:
        """A token for ``user`` that reaches no further than the token creating it.

        Its project, role and lifetime stay within the creating token's (a token limited
        to one project creates tokens for that project only; none outlives its creator),
        within the user's own role, and within ``max_days`` (the operator's ceiling). A
        longer-lived token is asked for with a fresh signature of the user's key
        (``POST /auth/token``), or made by the operator with ``atr-agent token create``.
        """
        check_token_terms(self.session, user, project=body.project, role=body.role)
        scope = self.principal.token_project
        if scope is not None and body.project != scope:
            asked = f"project '{body.project}'" if body.project else "every project"
            raise Forbidden(
                f"this token is limited to project '{scope}'; it cannot create a token for {asked}",
                hint=f"ask for a token limited to '{scope}' (--project {scope})",
            )
        held = self.principal.token_role if scope is None else self.principal.admin_role
        if body.role.rank > held.rank:
            raise Forbidden(
                f"a token with the '{body.role}' role needs a token with that role to create it; "
                f"yours has '{held}'"
            )
        now = datetime.now(UTC)
        parent_expires = self.principal.token_expires_at
        days = body.expires_in_days
        if days is None:
            expires_at = now + timedelta(days=min(DEFAULT_TOKEN_DAYS, max_days))
            if parent_expires is not None:
                expires_at = min(expires_at, parent_expires)
        elif days > max_days:
            raise ValidationError(
                f"a token may be valid for at most {max_days:g} days on this agent; "
                f"{days} were asked for",
                hint="ask for fewer days (the operator sets the ceiling: max_token_days)",
            )
        else:
            expires_at = now + timedelta(days=days)
        if parent_expires is not None and expires_at > parent_expires:
            raise Forbidden(
                f"this token expires at {parent_expires:%Y-%m-%d %H:%M} UTC; a token it creates "
                "cannot outlive it",
                hint="ask for fewer days, or sign a token request with your key "
                "(atr token create --sign-with FINGERPRINT): a fresh signature may ask for more",
            )
        secret, row = issue_token(
            self.session,
            user=user,
            role=body.role,
            project=body.project,
            label=body.label,
            expires_at=expires_at,
            kind="api",
            actor=self.principal.name,
        )
        return p.TokenCreated(token=secret, info=token_to_wire(row))

    def _revoke(self, row: models.ApiToken) -> p.TokenInfo:
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            self.session.flush()
            self._event(
                EventKind.TOKEN_REVOKED,
                project=row.project,
                data={"token_id": row.id, "user": row.user.name},
            )
        return token_to_wire(row)

    def _token_row(self, token_id: int) -> models.ApiToken:
        row = self.session.get(models.ApiToken, token_id)
        if row is None:
            raise NotFound(f"no token with id {token_id}")
        return row


class UserWriter(_Writer):
    """Writes any authenticated user may make for themselves."""

    def create_token(self, body: p.TokenCreate, *, max_days: float) -> p.TokenCreated:
        """A token for the user themselves, with a role no higher than their own."""
        if body.user is not None and body.user != self.principal.name:
            raise Forbidden(
                "creating a token for another user needs the 'admin' role",
                hint="leave 'user' empty to create a token for yourself",
            )
        if self.principal.user_id is None:
            raise Forbidden("the operator has no user; name the user the token is for")
        user = self.session.get(models.User, self.principal.user_id)
        if user is None:
            raise Unauthenticated("your user no longer exists")
        return self._create_token(user, body, max_days=max_days)

    def revoke_token(self, token_id: int) -> p.TokenInfo:
        """Revoke one of the user's own tokens (an admin may revoke any)."""
        row = self._token_row(token_id)
        if row.user_id != self.principal.user_id and self.principal.admin_role != Role.ADMIN:
            raise NotFound(f"no token with id {token_id}")
        return self._revoke(row)


class AdminWriter(UserWriter):
    """Administration of the agent."""

    def create_committee(self, body: p.CommitteeCreate) -> p.Committee:
        if self.session.scalar(select(models.Committee).where(models.Committee.name == body.name)):
            raise Conflict(f"committee '{body.name}' exists already")
        row = models.Committee(
            name=body.name, display_name=body.display_name or body.name, podling=body.podling
        )
        self.session.add(row)
        self.session.flush()
        self._event(
            EventKind.COMMITTEE_CREATED, data={"committee": row.name, "podling": row.podling}
        )
        return committee_to_wire(row)

    def create_project(self, body: p.ProjectCreate) -> p.Project:
        committee = _committee_row(self.session, body.committee)
        if self.session.scalar(select(models.Project).where(models.Project.key == body.key)):
            raise Conflict(f"project '{body.key}' exists already")
        row = models.Project(key=body.key, name=body.name or body.key, committee=committee)
        self.session.add(row)
        self.session.flush()
        self._event(
            EventKind.PROJECT_CREATED,
            project=row.key,
            data={"committee": committee.name, "name": row.name},
        )
        return project_to_wire(row)

    def create_user(self, body: p.UserCreate) -> p.User:
        if self.session.scalar(select(models.User).where(models.User.name == body.name)):
            raise Conflict(f"user '{body.name}' exists already")
        if "@" not in body.email:
            raise ValidationError(f"{body.email!r} is not an email address")
        row = models.User(name=body.name, email=body.email, is_admin=body.is_admin)
        self.session.add(row)
        self.session.flush()
        self._event(EventKind.USER_CREATED, data={"user": row.name, "is_admin": row.is_admin})
        self._add_key(row, body.public_key)
        for membership in body.memberships:
            self._set_membership(row, membership.committee, membership.role)
        self.session.refresh(row)
        return user_to_wire(row)

    def add_user_key(self, name: str, public_key: str) -> p.User:
        """Register one more OpenPGP public key for user ``name``."""
        row = _user_row(self.session, name)
        self._add_key(row, public_key)
        self.session.refresh(row)
        return user_to_wire(row)

    def set_membership(self, name: str, committee: str, role: Role | None) -> p.User:
        """Make user ``name`` a ``pmc`` member or ``committer`` of ``committee`` (None: remove)."""
        row = _user_row(self.session, name)
        self._set_membership(row, committee, role)
        self.session.refresh(row)
        return user_to_wire(row)

    def create_token(self, body: p.TokenCreate, *, max_days: float) -> p.TokenCreated:
        """A token for any user (``body.user``; default: the admin themselves)."""
        if body.user is None:
            return super().create_token(body, max_days=max_days)
        return self._create_token(_user_row(self.session, body.user), body, max_days=max_days)

    def _add_key(self, user: models.User, armored: str) -> None:
        key = openpgp.load_key(armored)
        if not key.is_public:
            raise ValidationError(
                "the key given is a SECRET key; register only the public key",
                hint="export it with 'gpg --armor --export <fingerprint>'",
            )
        info = openpgp.key_info(key)
        # The shared key policy, on the key as GnuPG reads it (pgpy cannot tell revocation).
        with Keyring.open([armored]) as ring:
            listed = ring.key_for(info.fingerprint)
        if listed is None:
            raise ValidationError(f"GnuPG cannot read the key {info.fingerprint}")
        problems = release_problems(listed)
        if problems:
            raise ValidationError(
                f"key {info.fingerprint} cannot sign releases: "
                + "; ".join(p.message for p in problems),
                hint="register a key that passes the ASF's key policy (docs/keys.md)",
            )
        if self.session.scalar(
            select(models.UserKey).where(models.UserKey.fingerprint == info.fingerprint)
        ):
            raise Conflict(f"key {info.fingerprint} is registered already")
        self.session.add(
            models.UserKey(
                user=user,
                fingerprint=info.fingerprint,
                algorithm=info.algorithm,
                bits=info.bits,
                user_ids=list(info.user_ids),
                armored=armored.strip() + "\n",
            )
        )
        self.session.flush()
        self._event(
            EventKind.USER_KEY_ADDED, data={"user": user.name, "fingerprint": info.fingerprint}
        )

    def _set_membership(self, user: models.User, committee_name: str, role: Role | None) -> None:
        if role is not None and role not in (Role.PMC, Role.COMMITTER):
            raise ValidationError(
                f"a membership role is 'pmc' or 'committer', not '{role}'",
                hint="admins are users with is_admin set",
            )
        committee = _committee_row(self.session, committee_name)
        row = self.session.scalar(
            select(models.Membership).where(
                models.Membership.user_id == user.id, models.Membership.committee_id == committee.id
            )
        )
        if role is None:
            if row is not None:
                self.session.delete(row)
        elif row is None:
            self.session.add(models.Membership(user=user, committee=committee, role=role.value))
        else:
            row.role = role.value
        self.session.flush()
        self._event(
            EventKind.MEMBERSHIP_CHANGED,
            data={
                "user": user.name,
                "committee": committee.name,
                "role": role.value if role else None,
            },
        )

    def revoke_token(self, token_id: int) -> p.TokenInfo:
        return self._revoke(self._token_row(token_id))


class UploaderWriter(_Writer):
    """Recording uploaded blobs."""

    def record_blob(self, info: p.BlobInfo, *, filename: str | None = None) -> p.BlobInfo:
        """Record a blob the BlobStore has stored (once; a second upload is a no-op)."""
        if add_blob_row(self.session, sha256=info.sha256, sha512=info.sha512, size=info.size):
            data: dict[str, Any] = {"sha256": info.sha256, "size": info.size}
            if filename:
                data["filename"] = filename
            self._event(EventKind.BLOB_STORED, data=data)
        return info


def started_by(actor: str) -> str:
    """What started a release, from its creator's name: the trigger (``trigger.webhook`` →
    ``webhook``, ``trigger.svn`` → ``svn``), a trusted publisher's workflow
    (``publisher.<project>`` → ``github-oidc``), or a person's hand (``manual``: a user, or
    the operator at the agent's shell)."""
    if actor.startswith("trigger."):
        return actor.removeprefix("trigger.")
    if actor.startswith("publisher."):
        return "github-oidc"
    return "manual"


class CommitterWriter(_Writer):
    """What a committer of one project may do."""

    def __init__(self, session: Session, principal: Principal, project: models.Project) -> None:
        super().__init__(session, principal)
        self.project = project

    def create_release(self, body: p.ReleaseCreate) -> p.Release:
        existing = self.session.scalar(
            select(models.Release).where(
                models.Release.project_id == self.project.id, models.Release.version == body.version
            )
        )
        if existing is not None:
            raise Conflict(f"release {self.project.key} {body.version} exists already")
        now = datetime.now(UTC)
        row = models.Release(
            project=self.project,
            version=body.version,
            phase=INITIAL_PHASE.value,
            created_by=self.principal.name,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        self._event(
            EventKind.RELEASE_CREATED,
            project=self.project.key,
            version=body.version,
            data={"phase": INITIAL_PHASE.value, "source": started_by(self.principal.name)},
        )
        return release_to_wire(self.session, row)

    def create_revision(self, version: str, body: p.RevisionCreate) -> p.Revision:
        """A new immutable revision: the base's files, plus ``files``, minus ``remove``.
        Its checks are queued by :func:`agent.phases.create_revision`, the way to call it."""
        release = release_row(self.session, self.project.key, version, lock=True)
        if Phase(release.phase) not in MUTABLE_PHASES:
            raise Conflict(
                f"release {self.project.key} {version} is in phase '{release.phase}'; "
                "revisions can be created only in phase 'compose'",
                hint="move the release back to 'compose' first",
            )
        manifest: dict[str, str] = {}
        if body.base is not None:
            base = revision_row(self.session, release, body.base)
            manifest = {f.path: f.blob_sha256 for f in base.files}
        clash = sorted(set(body.files) & set(body.remove))
        if clash:
            raise ValidationError(f"path {clash[0]!r} is both added and removed")
        for path in body.remove:
            if path not in manifest:
                raise ValidationError(
                    f"cannot remove {path!r}: it is not in the base revision"
                    + ("" if body.base is not None else " (no base revision was given)")
                )
            del manifest[path]
        for path, sha256 in sorted(body.files.items()):
            if self.session.get(models.Blob, sha256) is None:
                raise ValidationError(
                    f"file {path!r}: no uploaded blob has SHA-256 {sha256}",
                    hint="upload the file with POST /uploads first",
                )
            manifest[path] = sha256
        number = (_latest_revision_number(self.session, release.id) or 0) + 1
        row = models.Revision(
            release=release, number=number, message=body.message, created_by=self.principal.name
        )
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"another revision of {self.project.key} {version} was created at the same time",
                hint="retry",
            ) from exc
        for path, sha256 in sorted(manifest.items()):
            self.session.add(models.RevisionFile(revision_id=row.id, path=path, blob_sha256=sha256))
        self.session.flush()
        self.session.refresh(row)
        self._event(
            EventKind.REVISION_CREATED,
            project=self.project.key,
            version=version,
            data={
                "number": number,
                "base": body.base,
                "files": len(manifest),
                "message": body.message,
            },
        )
        return revision_to_wire(row)

    def start_task(self, body: p.TaskCreate) -> p.Task:
        """Queue a task on a revision of a release (default: the latest revision)."""
        if body.project != self.project.key:
            raise ValidationError(f"task is for project '{body.project}', not '{self.project.key}'")
        release = release_row(self.session, self.project.key, body.version)
        if body.revision is None:
            latest = _latest_revision_number(self.session, release.id)
            if latest is None:
                raise Conflict(
                    f"release {self.project.key} {body.version} has no revision to run a task on",
                    hint="create a revision first",
                )
            revision = latest
        else:
            revision = revision_row(self.session, release, body.revision).number
        row = queue.enqueue(
            self.session,
            body.type,
            project=self.project.key,
            version=body.version,
            revision=revision,
            args=dict(body.args),
            created_by=self.principal.name,
        )
        return task_to_wire(row)

    def transition(self, version: str, body: p.TransitionRequest) -> p.Release:
        """Compose ⇄ checks; every other change needs :meth:`Store.as_pmc`. The lifecycle
        table and the role only: :func:`agent.phases.transition` adds the guards of the
        checks, the votes and the distribution, the way to call it."""
        return self._transition(version, body, allowed=COMMITTER_TRANSITIONS)

    def _transition(
        self,
        version: str,
        body: p.TransitionRequest,
        *,
        allowed: frozenset[tuple[Phase, Phase]] | None,
    ) -> p.Release:
        release = release_row(self.session, self.project.key, version, lock=True)
        current = Phase(release.phase)
        check_transition(current, body.to)
        if allowed is not None and (current, body.to) not in allowed:
            raise Forbidden(
                f"moving a release from '{current}' to '{body.to}' needs the 'pmc' role "
                f"on project '{self.project.key}'"
            )
        now = datetime.now(UTC)
        seconds = max(0.0, (now - release.updated_at).total_seconds())
        release.phase = body.to.value
        release.updated_at = now
        self.session.flush()
        self._event(
            EventKind.PHASE_CHANGED,
            project=self.project.key,
            version=version,
            data={
                "from": current.value,
                "to": body.to.value,
                "reason": body.reason,
                "seconds_in_previous_phase": round(seconds, 3),
            },
        )
        return release_to_wire(self.session, release)


class PmcWriter(CommitterWriter):
    """What a PMC member of one project may do in addition."""

    def transition(self, version: str, body: p.TransitionRequest) -> p.Release:
        """Any phase change the lifecycle table allows."""
        return self._transition(version, body, allowed=None)


# --- reads --------------------------------------------------------------------------------------


def list_committees(session: Session) -> list[p.Committee]:
    rows = session.scalars(select(models.Committee).order_by(models.Committee.name))
    return [committee_to_wire(r) for r in rows]


def list_projects(session: Session, *, committee: str | None = None) -> list[p.Project]:
    query = select(models.Project).options(selectinload(models.Project.committee))
    if committee is not None:
        query = query.join(models.Committee).where(models.Committee.name == committee)
    return [project_to_wire(r) for r in session.scalars(query.order_by(models.Project.key))]


def get_project(session: Session, key: str) -> p.Project:
    return project_to_wire(project_row(session, key))


def list_users(session: Session) -> list[p.User]:
    rows = session.scalars(select(models.User).order_by(models.User.name))
    return [user_to_wire(r) for r in rows]


def get_user(session: Session, name: str) -> p.User:
    return user_to_wire(_user_row(session, name))


def list_releases(session: Session, project: str) -> list[p.Release]:
    row = project_row(session, project)
    releases = session.scalars(
        select(models.Release)
        .where(models.Release.project_id == row.id)
        .order_by(models.Release.created_at, models.Release.id)
    )
    return [release_to_wire(session, r) for r in releases]


def get_release(session: Session, project: str, version: str) -> p.Release:
    return release_to_wire(session, release_row(session, project, version))


def list_revisions(session: Session, project: str, version: str) -> list[p.Revision]:
    release = release_row(session, project, version)
    return [revision_to_wire(r) for r in release.revisions]


def parse_revision_number(value: str) -> int | None:
    """``latest`` → None; a positive number → itself; anything else → ValidationError."""
    if value == "latest":
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise ValidationError(f"{value!r} is not a revision number (1, 2, ... or 'latest')")
    return int(value)


def get_revision(session: Session, project: str, version: str, number: int | None) -> p.Revision:
    release = release_row(session, project, version)
    return revision_to_wire(revision_row(session, release, number))


def revision_file_blob(
    session: Session, project: str, version: str, number: int | None, path: str
) -> p.RevisionFile:
    """The file at ``path`` of a revision (its blob's digests and size)."""
    release = release_row(session, project, version)
    revision = revision_row(session, release, number)
    for f in revision.files:
        if f.path == path:
            return p.RevisionFile(
                path=f.path, size=f.blob.size, sha256=f.blob.sha256, sha512=f.blob.sha512
            )
    raise NotFound(f"revision {revision.number} of {project} {version} has no file {path!r}")


def readable_project(principal: Principal, project: str | None, *, what: str) -> str | None:
    """The project a listing of ``what`` is limited to: a token limited to one project reads
    that project only (403 for another; its own when none is asked for)."""
    scope = principal.token_project
    if scope is None:
        return project
    if project not in (None, scope):
        raise Forbidden(
            f"reading the {what} of project '{project}': this token is limited to project "
            f"'{scope}'",
            hint="use a token for that project or an unscoped token",
        )
    return scope


def _private_releases(session: Session, release_ids: set[int]) -> set[int]:
    """Those of ``release_ids`` that had a security vote (voted on the private list)."""
    if not release_ids:
        return set()
    return set(
        session.scalars(
            select(models.Vote.release_id).where(
                models.Vote.release_id.in_(release_ids), models.Vote.security.is_(True)
            )
        )
    )


def check_blob_readable(session: Session, principal: Principal, sha256: str) -> None:
    """Refuse (404, as if absent) a blob the principal may not read: a file of a release the
    token's project limit excludes, or of a security release of another committee. A blob
    in no revision yet (an upload in progress) is for uploaders (committers) only."""
    rows = session.execute(
        select(models.Release.id, models.Project.key, models.Committee.name)
        .join(models.Revision, models.Revision.release_id == models.Release.id)
        .join(models.Project, models.Project.id == models.Release.project_id)
        .join(models.Committee, models.Committee.id == models.Project.committee_id)
        .where(
            models.Revision.id.in_(
                select(models.RevisionFile.revision_id).where(
                    models.RevisionFile.blob_sha256 == sha256
                )
            )
            | models.Revision.id.in_(
                select(models.RevisionSbom.revision_id).where(
                    models.RevisionSbom.blob_sha256 == sha256
                )
            )
        )
    ).all()
    if not rows:
        scope = principal.token_project
        committee = project_row(session, scope).committee.name if scope else None
        try:
            require_role(
                principal, Role.COMMITTER, what="reading an upload", project=scope,
                committee=committee,
            )  # fmt: skip
        except Forbidden:
            raise NotFound(f"no blob with SHA-256 {sha256} is stored") from None
        return
    private = _private_releases(session, {row[0] for row in rows})
    for release_id, project, committee in rows:
        if principal.token_project not in (None, project):
            continue
        if (
            release_id in private
            and principal.role_for(project, committee).rank < Role.COMMITTER.rank
        ):
            continue
        return
    raise NotFound(f"no blob with SHA-256 {sha256} is stored")


def get_blob(session: Session, sha256: str) -> p.BlobInfo:
    row = session.get(models.Blob, sha256)
    if row is None:
        raise NotFound(f"no blob with SHA-256 {sha256} is stored")
    return p.BlobInfo(sha256=row.sha256, sha512=row.sha512, size=row.size)


def list_tasks(
    session: Session,
    *,
    project: str | None = None,
    version: str | None = None,
    state: p.TaskState | None = None,
    limit: int = 200,
) -> list[p.Task]:
    query = select(models.Task)
    if project is not None:
        query = query.where(models.Task.project == project)
    if version is not None:
        query = query.where(models.Task.version == version)
    if state is not None:
        query = query.where(models.Task.state == state.value)
    rows = session.scalars(query.order_by(models.Task.id.desc()).limit(limit))
    return [task_to_wire(r) for r in rows]


def get_task(session: Session, task_id: int) -> p.Task:
    row = session.get(models.Task, task_id)
    if row is None:
        raise NotFound(f"no task with id {task_id}")
    return task_to_wire(row)


def last_event_id(session: Session) -> int:
    return session.scalar(select(func.max(models.Event.id))) or 0


def list_events(
    session: Session,
    *,
    since: int = 0,
    limit: int = 100,
    project: str | None = None,
    version: str | None = None,
) -> p.EventPage:
    """Events with ``id > since`` in id order, at most ``limit`` (≤ 1000) of them."""
    if limit < 1 or limit > MAX_EVENT_PAGE:
        raise ValidationError(f"limit must be 1 to {MAX_EVENT_PAGE}, got {limit}")
    query = select(models.Event).where(models.Event.id > since)
    if project is not None:
        query = query.where(models.Event.project == project)
    if version is not None:
        query = query.where(models.Event.version == version)
    rows = list(session.scalars(query.order_by(models.Event.id).limit(limit)))
    events = [to_wire(r) for r in rows]
    return p.EventPage(events=events, next_since=events[-1].id if events else since)


def list_tokens(
    session: Session, principal: Principal, *, all_users: bool = False
) -> list[p.TokenInfo]:
    """The principal's own tokens; every token for an admin who asks for ``all_users``."""
    query = select(models.ApiToken).options(selectinload(models.ApiToken.user))
    if all_users:
        require_role(principal, Role.ADMIN, what="listing every user's tokens")
    else:
        if principal.user_id is None:
            return []
        query = query.where(models.ApiToken.user_id == principal.user_id)
    return [token_to_wire(r) for r in session.scalars(query.order_by(models.ApiToken.id))]
