"""Trusted publishers: the workflows a project's PMC lets publish candidates with OIDC.

A rule names the issuer, the repository (``owner/name``), the workflow file and the refs it
may run from (fnmatch patterns such as ``refs/tags/v*``), and optionally a deployment
environment. The upload tokens handed out for a rule belong to the project's publisher
user, ``publisher.<project>``: made with the first rule, a committer of the project's
committee with no key (so it cannot log in), whose tokens are always limited to the one
project and live minutes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from agent.engine.events import append_event
from agent.store import Conflict, NotFound, project_row
from shared.protocol import EventKind, Role
from shared.protocol.triggers import TrustedPublisher, TrustedPublisherCreate

__all__ = [
    "add_publisher",
    "delete_publisher",
    "list_publishers",
    "publisher_user",
    "publisher_user_name",
    "rules_for_repository",
]


def publisher_user_name(project: str) -> str:
    return f"publisher.{project}"


def _to_wire(row: models.TrustedPublisherRow) -> TrustedPublisher:
    return TrustedPublisher(
        id=row.id,
        project=row.project.key,
        issuer=row.issuer,
        repository=row.repository,
        workflow=row.workflow,
        refs=list(row.refs),
        environment=row.environment,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def list_publishers(session: Session, key: str) -> list[TrustedPublisher]:
    project = project_row(session, key)
    rows = session.scalars(
        select(models.TrustedPublisherRow)
        .where(models.TrustedPublisherRow.project_id == project.id)
        .order_by(models.TrustedPublisherRow.id)
    )
    return [_to_wire(r) for r in rows]


def publisher_user(session: Session, project: models.Project, *, actor: str) -> models.User:
    """The project's publisher user, made (a committer of its committee) if missing."""
    name = publisher_user_name(project.key)
    user = session.scalar(select(models.User).where(models.User.name == name))
    if user is None:
        user = models.User(name=name, email=f"{name}@trusted-publishing.invalid", is_admin=False)
        session.add(user)
        session.flush()
        append_event(
            session,
            EventKind.USER_CREATED,
            actor=actor,
            data={"user": name, "is_admin": False, "trusted_publisher_of": project.key},
        )
    member = session.scalar(
        select(models.Membership).where(
            models.Membership.user_id == user.id,
            models.Membership.committee_id == project.committee_id,
        )
    )
    if member is None:
        session.add(
            models.Membership(user=user, committee=project.committee, role=Role.COMMITTER.value)
        )
        session.flush()
        append_event(
            session,
            EventKind.MEMBERSHIP_CHANGED,
            actor=actor,
            data={"user": name, "committee": project.committee.name, "role": "committer"},
        )
    return user


def add_publisher(
    session: Session, key: str, body: TrustedPublisherCreate, *, actor: str
) -> TrustedPublisher:
    """Add a rule (the caller checked the PMC role)."""
    project = project_row(session, key)
    duplicate = session.scalar(
        select(models.TrustedPublisherRow).where(
            models.TrustedPublisherRow.project_id == project.id,
            models.TrustedPublisherRow.issuer == body.issuer,
            models.TrustedPublisherRow.repository == body.repository,
            models.TrustedPublisherRow.workflow == body.workflow,
            models.TrustedPublisherRow.environment == body.environment,
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"project '{key}' already trusts {body.repository} {body.workflow} (rule "
            f"{duplicate.id})",
            hint="delete that rule first to change its refs",
        )
    publisher_user(session, project, actor=actor)
    row = models.TrustedPublisherRow(
        project_id=project.id,
        issuer=body.issuer.rstrip("/"),
        repository=body.repository,
        workflow=body.workflow,
        refs=list(body.refs),
        environment=body.environment,
        created_by=actor,
    )
    row.project = project
    session.add(row)
    session.flush()
    out = _to_wire(row)
    append_event(
        session,
        EventKind.TRUSTED_PUBLISHER_CHANGED,
        actor=actor,
        project=key,
        data={"added": out.model_dump(mode="json", exclude={"created_at"})},
    )
    return out


def delete_publisher(session: Session, key: str, rule_id: int, *, actor: str) -> TrustedPublisher:
    project = project_row(session, key)
    row = session.get(models.TrustedPublisherRow, rule_id)
    if row is None or row.project_id != project.id:
        raise NotFound(f"project '{key}' has no trusted-publisher rule {rule_id}")
    out = _to_wire(row)
    grants = session.scalars(
        select(models.OidcGrant).where(models.OidcGrant.publisher_id == rule_id)
    ).all()
    if grants:
        raise Conflict(
            f"rule {rule_id} handed out {len(grants)} upload token(s) and is kept as their record",
            hint="add a new rule with the refs you want; old rules stay as history",
        )
    session.delete(row)
    session.flush()
    append_event(
        session,
        EventKind.TRUSTED_PUBLISHER_CHANGED,
        actor=actor,
        project=key,
        data={"deleted": out.model_dump(mode="json", exclude={"created_at"})},
    )
    return out


def rules_for_repository(
    session: Session, issuer: str, repository: str
) -> list[models.TrustedPublisherRow]:
    """Every rule (of any project) for ``repository`` under ``issuer`` (names compared
    without case, as GitHub does)."""
    rows = session.scalars(
        select(models.TrustedPublisherRow).where(
            models.TrustedPublisherRow.issuer == issuer.rstrip("/")
        )
    )
    wanted = repository.lower()
    return [r for r in rows if r.repository.lower() == wanted]
