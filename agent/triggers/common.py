"""What every trigger shares: who it acts as, the project's trigger settings, deliveries once.

A trigger acts as a :class:`~agent.store.Principal` named after its source
(``trigger.webhook``, ``trigger.svn``) with the committer role on one project only: it may
create a release and its revisions there, nothing else. The release it creates is managed
by the project's configured release manager (:attr:`TriggerSettings.release_manager`), who
is asked to sign what was built; the agent never signs for a person.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.engine.events import append_event
from agent.store import Conflict, NotFound, Principal, project_row
from agent.vault import Vault
from shared.errors import AtrError, ValidationError
from shared.ids import check_version
from shared.protocol import EventKind, Role
from shared.protocol.triggers import TriggerSettings, TriggerSettingsUpdate, TriggerSource

__all__ = [
    "SYSTEM_PREFIXES",
    "DeliveryRecorded",
    "is_system_actor",
    "read_settings",
    "record_delivery",
    "ref_allowed",
    "release_manager_of",
    "tag_version",
    "trigger_principal",
    "webhook_secret",
    "write_settings",
]


class Unavailable(AtrError):
    """Something the agent needs from elsewhere does not answer now (503)."""


class TriggerRefused(Exception):
    """Internal: an authenticated trigger refused (a replay, a run no rule allows); the API
    records ``trigger.refused`` in a transaction of its own, then answers ``error``."""

    def __init__(
        self,
        error: AtrError,
        *,
        source: str,
        delivery: str,
        project: str | None,
        data: dict[str, Any],
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.source = source
        self.delivery = delivery
        self.project = project
        self.data = data


def record_refusal(session: Session, refused: TriggerRefused) -> None:
    """The ``trigger.refused`` event of an authenticated trigger that was refused."""
    append_event(
        session,
        EventKind.TRIGGER_REFUSED,
        actor=f"trigger.{refused.source}",
        project=refused.project,
        data={
            "source": refused.source,
            "delivery": refused.delivery,
            "reason": refused.error.message,
            **refused.data,
        },
    )


SYSTEM_PREFIXES = ("trigger.", "publisher.")
"""Actor names of triggers and trusted publishers: never a person."""


def agent_version() -> str:
    """This agent's version (the builder of what it builds)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("atr-release-manager")
    except PackageNotFoundError:
        return "0+unknown"


def is_system_actor(name: str) -> bool:
    return name.startswith(SYSTEM_PREFIXES) or name == "atr-agent"


def trigger_principal(source: str, project: str) -> Principal:
    """The principal a trigger acts as: a committer of ``project`` only."""
    return Principal(
        name=f"trigger.{source}",
        user_id=None,
        is_admin=True,
        token_role=Role.COMMITTER,
        token_project=project,
    )


# --- settings -----------------------------------------------------------------------------------


def _settings_row(session: Session, project: models.Project) -> models.TriggerSettingsRow | None:
    return session.get(models.TriggerSettingsRow, project.id)


def read_settings(session: Session, key: str) -> TriggerSettings:
    """The trigger settings of project ``key`` (the defaults when none were set)."""
    row = _settings_row(session, project_row(session, key))
    if row is None:
        return TriggerSettings()
    return TriggerSettings(
        git_url=row.git_url,
        tag_pattern=row.tag_pattern,
        archive_name=row.archive_name,
        release_manager=row.release_manager,
        watch_dist=row.watch_dist,
        webhook_secret_set=row.webhook_secret is not None,
    )


def _check_pattern(pattern: str) -> None:
    if pattern.count("{version}") != 1:
        raise ValidationError(
            f"tag_pattern {pattern!r} must contain {{version}} exactly once",
            hint="e.g. 'v{version}', 'v{version}-rc{rc}' or 'rel/{version}'",
        )
    rest = pattern.replace("{version}", "").replace("{rc}", "", 1)
    if "{" in rest or "}" in rest:
        raise ValidationError(
            f"tag_pattern {pattern!r} has a placeholder other than {{version}} and {{rc}}"
        )


GIT_SCHEMES = ("https", "http", "git", "ssh")


def check_git_url(url: str, settings: Settings) -> str:
    """``url`` if the agent may fetch from it: https, http, git or ssh (``user@host:path``
    too); a local path or ``file://`` only where the operator allows it
    (``git_local_allowed``)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in GIT_SCHEMES or (not scheme and re.match(r"^[\w.-]+@[\w.-]+:", url)):
        return url
    if settings.git_local_allowed and (scheme == "file" or (not scheme and url.startswith("/"))):
        return url
    raise ValidationError(
        f"git_url {url!r} is not a remote repository the agent may fetch from",
        hint="use https://, git:// or ssh:// (local paths: the operator's git_local_allowed)",
    )


def _check_archive_name(name: str) -> None:
    try:
        sample = name.format(project="p", version="1.0.0")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationError(
            f"archive_name {name!r} may hold only {{project}} and {{version}}",
            hint="e.g. 'apache-{project}-{version}-src'",
        ) from exc
    if "{version}" not in name or "/" in sample or sample in (".", "..") or not sample.strip():
        raise ValidationError(
            f"archive_name {name!r} must name a file and contain {{version}}",
            hint="e.g. 'apache-{project}-{version}-src'",
        )


def write_settings(
    session: Session,
    settings: Settings,
    key: str,
    body: TriggerSettingsUpdate,
    *,
    actor: str,
) -> TriggerSettings:
    """Store the trigger settings of ``key`` (the caller checked the PMC role)."""
    project = project_row(session, key)
    _check_pattern(body.tag_pattern)
    _check_archive_name(body.archive_name)
    if body.git_url is not None:
        check_git_url(body.git_url, settings)
    if body.release_manager is not None:
        user = session.scalar(select(models.User).where(models.User.name == body.release_manager))
        if user is None:
            raise NotFound(f"no user named '{body.release_manager}' (release_manager)")
    row = _settings_row(session, project)
    if row is None:
        row = models.TriggerSettingsRow(project_id=project.id, updated_by=actor)
        session.add(row)
    row.git_url = body.git_url
    row.tag_pattern = body.tag_pattern
    row.archive_name = body.archive_name
    row.release_manager = body.release_manager
    row.watch_dist = body.watch_dist
    if body.webhook_secret is not None:
        vault = Vault.open(data_dir=settings.data_dir, key_file=settings.vault_key_file)
        row.webhook_secret = vault.encrypt(body.webhook_secret.encode(), name=_secret_name(key))
    row.updated_by = actor
    row.updated_at = datetime.now(UTC)
    session.flush()
    out = read_settings(session, key)
    append_event(
        session,
        EventKind.TRIGGER_SETTINGS_CHANGED,
        actor=actor,
        project=key,
        data={
            **out.model_dump(mode="json"),
            "webhook_secret_changed": body.webhook_secret is not None,
        },
    )
    return out


def _secret_name(key: str) -> str:
    return f"webhook:{key}"


def webhook_secret(session: Session, settings: Settings, key: str) -> bytes | None:
    """The project's webhook secret (decrypted in this process only), or ``None``."""
    row = _settings_row(session, project_row(session, key))
    if row is None or row.webhook_secret is None:
        return None
    vault = Vault.open(data_dir=settings.data_dir, key_file=settings.vault_key_file)
    return vault.decrypt(row.webhook_secret, name=_secret_name(key))


def release_manager_of(session: Session, release: models.Release) -> str | None:
    """The person who manages ``release``: its creator, unless a trigger or publisher created
    it; then the project's configured release manager (``None``: the PMC)."""
    if not is_system_actor(release.created_by):
        return release.created_by
    row = _settings_row(session, release.project)
    return row.release_manager if row is not None else None


# --- tags and refs ------------------------------------------------------------------------------

_VERSION_PART = r"(?P<version>[0-9][0-9A-Za-z.+_~-]*?)"
_RC_PART = r"(?P<rc>[0-9]{1,4})"


def tag_version(pattern: str, tag: str) -> tuple[str, int | None] | None:
    """The version (and candidate number) a tag names under ``pattern``; ``None`` if the tag
    is not a release tag. ``v{version}-rc{rc}`` reads ``v1.2.0-rc3`` as ``("1.2.0", 3)``."""
    regex = ""
    for piece in re.split(r"(\{version\}|\{rc\})", pattern):
        if piece == "{version}":
            regex += _VERSION_PART
        elif piece == "{rc}":
            regex += _RC_PART
        else:
            regex += re.escape(piece)
    match = re.fullmatch(regex, tag)
    if match is None:
        return None
    try:
        version = check_version(match.group("version"))
    except ValidationError:
        return None
    rc = match.groupdict().get("rc")
    return version, int(rc) if rc is not None else None


def ref_allowed(ref: str, patterns: list[str]) -> bool:
    """Whether a git ref matches one of a rule's fnmatch ``patterns`` (case-sensitive)."""
    return any(fnmatch.fnmatchcase(ref, pattern) for pattern in patterns)


# --- deliveries ---------------------------------------------------------------------------------


class DeliveryRecorded(Exception):
    """Internal: the delivery was seen before (``row`` is the earlier one)."""

    def __init__(self, row: models.TriggerDelivery, *, replay: bool) -> None:
        super().__init__(row.delivery)
        self.row = row
        self.replay = replay


def record_delivery(
    session: Session,
    *,
    source: TriggerSource,
    delivery: str,
    identity: str | None,
    project: str | None,
    version: str | None,
    detail: str,
    data: dict[str, Any],
    actor: str,
    state: str = "accepted",
) -> models.TriggerDelivery:
    """Record a trigger once and its ``trigger.received`` event.

    Raises :class:`DeliveryRecorded` if the same delivery (``replay=False``) or the same
    identity under another delivery id (``replay=True``) was recorded before. Runs in a
    savepoint, so the caller's transaction goes on either way.
    """
    earlier = session.scalar(
        select(models.TriggerDelivery).where(
            models.TriggerDelivery.source == source, models.TriggerDelivery.delivery == delivery
        )
    )
    if earlier is not None:
        raise DeliveryRecorded(earlier, replay=False)
    if identity is not None:
        earlier = session.scalar(
            select(models.TriggerDelivery).where(
                models.TriggerDelivery.source == source,
                models.TriggerDelivery.identity == identity,
            )
        )
        if earlier is not None:
            raise DeliveryRecorded(earlier, replay=True)
    row = models.TriggerDelivery(
        source=source,
        delivery=delivery,
        identity=identity,
        project=project,
        version=version,
        state=state,
        detail=detail,
        data=data,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:  # the same delivery committed at the same moment
        raise Conflict(
            f"delivery {delivery} of {source} arrived twice at once", hint="it is handled once"
        ) from exc
    append_event(
        session,
        EventKind.TRIGGER_RECEIVED,
        actor=actor,
        project=project,
        version=version,
        data={"source": source, "delivery": delivery, "state": state, "detail": detail, **data},
    )
    return row


def finish_delivery(
    session: Session, delivery_id: int, *, state: str, detail: str, actor: str
) -> None:
    """Record how a delivery's work ended (``done``, ``failed``) and its event."""
    row = session.get(models.TriggerDelivery, delivery_id)
    if row is None:
        return
    row.state = state
    row.detail = detail
    append_event(
        session,
        EventKind.TRIGGER_FINISHED,
        actor=actor,
        project=row.project,
        version=row.version,
        data={"source": row.source, "delivery": row.delivery, "state": state, "detail": detail},
    )
