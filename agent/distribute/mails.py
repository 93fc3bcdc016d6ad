"""The mail a distribution sends: a failure, the summary, and the ``[ANNOUNCE]``.

Rendered from the project's templates (:mod:`agent.mail.render`: ``distribution_failure``,
``distribution_summary``, ``announce``) and queued in the caller's transaction, so a
mail exists exactly when what it reports was committed. Failures and the summary go to
the release manager and the dev list; the announcement goes from the release manager to
the project's announce recipients (default: ``announce_list`` and the dev list).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.distribute.plan import DIST_CHANNEL, MANUAL_CHANNEL, project_settings
from agent.distribute.status import channel_state, download_page_url
from agent.mail.outbox import queue_mail
from agent.mail.render import MailTemplates
from agent.votes.views import Links, vote_settings
from shared.votes import is_artifact

__all__ = ["announce", "failure", "summary"]


def _release(session: Session, row: models.Distribution) -> models.Release:
    release = session.get(models.Release, row.release_id)
    assert release is not None
    return release


def _manager(session: Session, release: models.Release) -> models.User | None:
    return session.scalar(select(models.User).where(models.User.name == release.created_by))


def _recipients(session: Session, release: models.Release) -> list[str]:
    out = [vote_settings(release.project).dev_list]
    manager = _manager(session, release)
    if manager is not None and manager.email not in out:
        out.append(manager.email)
    return out


def _context(session: Session, settings: Settings, row: models.Distribution) -> dict[str, Any]:
    release = _release(session, row)
    project = release.project
    by_channel: dict[str, list[models.DistributionStep]] = {}
    for step in row.steps:
        by_channel.setdefault(step.channel, []).append(step)
    targets = {c["name"]: c.get("target", "") for c in row.plan.get("channels", [])}
    minutes = project_settings(project).announce_delay_minutes
    delay = settings.announce_delay_minutes if minutes is None else minutes
    after = (row.dist_at + timedelta(minutes=delay)) if row.dist_at else None
    return {
        "project": {"key": project.key, "name": project.name},
        "version": release.version,
        "revision": row.plan.get("revision"),
        "kind": row.kind,
        "release_manager": release.created_by,
        "channels": [
            {
                "name": name,
                "kind": steps[0].kind,
                "state": channel_state(steps).value,
                "target": targets.get(name, ""),
                "files": [{"path": s.path, "state": s.state, "url": s.url} for s in steps],
            }
            for name, steps in by_channel.items()
            if name != MANUAL_CHANNEL
        ],
        "manual": [s.path for s in by_channel.get(MANUAL_CHANNEL, [])],
        "announce_after": f"{after:%Y-%m-%d %H:%M} UTC" if after else "now",
        "download_page": download_page_url(settings, project.key),
        "keys_url": Links(settings.effective_public_url).keys(project.key),
    }


def _queue(
    session: Session,
    settings: Settings,
    templates: MailTemplates,
    release: models.Release,
    *,
    kind: str,
    template: str,
    context: dict[str, Any],
    recipients: list[str],
    sender: str | None = None,
    actor: str = "atr-agent",
) -> models.OutboxMessage:
    rendered = templates.render(template, project=release.project.key, context=context)
    return queue_mail(
        session,
        kind=kind,
        sender=sender or settings.mail_from,
        recipients=recipients,
        subject=rendered.subject,
        body=rendered.body,
        actor=actor,
        project=release.project.key,
        version=release.version,
    )


def failure(
    session: Session,
    settings: Settings,
    templates: MailTemplates,
    row: models.Distribution,
    *,
    channel: str,
    errors: list[str],
) -> models.OutboxMessage:
    """Mail the dev list and the release manager the cause of a channel's failure."""
    release = _release(session, row)
    context = {**_context(session, settings, row), "channel": channel, "errors": errors[:20]}
    return _queue(
        session, settings, templates, release, kind="failure",
        template="distribution_failure.txt.j2", context=context,
        recipients=_recipients(session, release),
    )  # fmt: skip


def summary(
    session: Session, settings: Settings, templates: MailTemplates, row: models.Distribution
) -> models.OutboxMessage:
    """Mail the release manager and the dev list what went where, and the manual steps."""
    release = _release(session, row)
    return _queue(
        session, settings, templates, release, kind="summary",
        template="distribution_summary.txt.j2", context=_context(session, settings, row),
        recipients=_recipients(session, release),
    )  # fmt: skip


def announce(
    session: Session,
    settings: Settings,
    templates: MailTemplates,
    release: models.Release,
    row: models.Distribution,
    *,
    actor: str,
) -> models.OutboxMessage:
    """The ``[ANNOUNCE]`` mail, from the release manager."""
    project = release.project
    context = _context(session, settings, row)
    dist: dict[str, Any] = next(
        (c for c in row.plan.get("channels", []) if c.get("name") == DIST_CHANNEL), {}
    )
    context["artifacts"] = [
        {"path": f["path"], "sha512": f["sha512"]}
        for f in dist.get("files", [])
        if is_artifact(f["path"])
    ]
    context["channels"] = [c for c in context["channels"] if c["name"] != DIST_CHANNEL]
    vote = session.scalars(
        select(models.Vote)
        .where(models.Vote.release_id == release.id, models.Vote.state == "passed")
        .order_by(models.Vote.id.desc())
        .limit(1)
    ).first()
    context["vote"] = None
    if vote is not None:
        tally = vote.tally or {}
        context["vote"] = {
            "outcome": "passed",
            "binding_plus": tally.get("binding", {}).get("+1", 0),
            "binding_minus": tally.get("binding", {}).get("-1", 0),
            "non_binding_plus": tally.get("non_binding", {}).get("+1", 0),
            "thread": vote.thread_message_id,
        }
    wanted = project_settings(project).announce_to
    recipients = wanted or [settings.announce_list, vote_settings(project).dev_list]
    manager = _manager(session, release)
    sender = f"{manager.name} <{manager.email}>" if manager is not None else None
    return _queue(
        session, settings, templates, release, kind="announce", template="announce.txt.j2",
        context=context, recipients=recipients, sender=sender, actor=actor,
    )  # fmt: skip
