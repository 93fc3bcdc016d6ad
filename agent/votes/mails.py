"""The mail a vote sends: ``[VOTE]`` to open it, one message per signed ballot, ``[RESULT]``.

Each is rendered from the project's template (:mod:`agent.mail.render`) and queued
in the caller's transaction (:func:`agent.mail.outbox.queue_mail`).

The ``[VOTE]`` mail is the release manager's call for a vote: per the project's vote
settings it comes from them (``release_manager``: From the release manager, Sender the
agent) or from the agent on their behalf (``agent``: From "<name> via ATR", Reply-To the
list and the release manager). Replies go to the list either way.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.mail.outbox import make_message_id, queue_mail
from agent.mail.render import MailTemplates
from agent.votes.candidate import candidate_artifacts, file_url, release_notes_files
from agent.votes.views import Links, ballot_to_wire, ends_text, tally_of, value_text
from shared.votes import SOURCE_TEXT

__all__ = ["VoteMail"]


@dataclass(frozen=True, slots=True)
class ReleaseManager:
    """The release's manager (its creator): their user name, a display name and address."""

    user: str
    name: str
    email: str | None

    @property
    def address(self) -> str | None:
        """``Name <addr>`` for a mail header, if they have an address."""
        return email.utils.formataddr((self.name, self.email)) if self.email else None


def release_manager(session: Session, release: models.Release) -> ReleaseManager:
    """Who manages ``release``: its creator, named as in their key's user id when they have one."""
    user = session.scalars(
        select(models.User).where(models.User.name == release.created_by)
    ).first()
    if user is None:
        return ReleaseManager(release.created_by, release.created_by, None)
    name = user.name
    for key in user.keys:
        for uid in key.user_ids or ():
            display, addr = email.utils.parseaddr(uid)
            if display and addr:
                name = display
                break
        if name != user.name:
            break
    return ReleaseManager(user.name, name, user.email)


def _artifact_context(
    candidate_url: str, session: Session, revision: models.Revision
) -> list[dict[str, Any]]:
    out = []
    for a in candidate_artifacts(session, revision):
        out.append(
            {
                "path": a.path,
                "sha512": a.sha512,
                "size": a.size,
                "url": file_url(candidate_url, a.path),
                "asc_url": file_url(candidate_url, a.signature) if a.signature else None,
                "checksum_url": file_url(candidate_url, a.checksum) if a.checksum else None,
                "signers": [
                    {"fingerprint": s.spaced, "user_id": s.user_id, "standing": s.keys}
                    for s in a.signers
                ],
            }
        )
    return out


def _hours_text(hours: float) -> str:
    if hours >= 1 and float(hours).is_integer():
        return f"{int(hours)} hours" if hours != 1 else "1 hour"
    minutes = round(hours * 60, 1)
    return f"{minutes:g} minutes"


@dataclass
class VoteMail:
    """Composes and queues the mail of votes for one agent."""

    settings: Settings
    templates: MailTemplates
    links: Links

    def _context(
        self,
        session: Session,
        vote: models.Vote,
        release: models.Release,
    ) -> dict[str, Any]:
        project = release.project
        revision = session.get(models.Revision, vote.revision_id)
        hours = (vote.ends_at - vote.started_at).total_seconds() / 3600
        candidate_url = self.links.candidate(project.key, release.version)
        artifacts = _artifact_context(candidate_url, session, revision) if revision else []
        signers: dict[str, dict[str, Any]] = {}
        for artifact in artifacts:
            for signer in artifact["signers"]:
                signers.setdefault(signer["fingerprint"], signer)
        notes = [
            {"path": path, "url": file_url(candidate_url, path)}
            for path in (release_notes_files(revision) if revision is not None else [])
        ]
        manager = release_manager(session, release)
        return {
            "project": {"key": project.key, "name": project.name},
            "version": release.version,
            "revision": revision.number if revision is not None else None,
            "release_manager": manager.name,
            "release_manager_user": manager.user,
            "release_manager_email": manager.email or "",
            "started_by": vote.started_by,
            "vote": {
                "round": vote.round,
                "security": vote.security,
                "list_address": vote.list_address,
            },
            "candidate_url": candidate_url,
            "keys_url": self.links.keys(project.key),
            "artifacts": artifacts,
            "signers": list(signers.values()),
            "source_ref": vote.source_ref or "",
            "source_url": vote.source_url or "",
            "release_notes_url": vote.release_notes_url or "",
            "release_notes_files": notes,
            "thread_url": vote.thread_url or "",
            "thread_message_id": vote.thread_message_id or "",
            "download_page_url": self.links.downloads(project.key),
            "ends_at": vote.ends_at,
            "ends_at_text": ends_text(vote.ends_at),
            "hours_text": _hours_text(hours),
            "vote_subject": (vote.tally or {}).get("subject", ""),
        }

    def _queue(
        self,
        session: Session,
        *,
        kind: str,
        template: str,
        vote: models.Vote,
        release: models.Release,
        context: dict[str, Any],
        recipients: list[str],
        actor: str,
        in_reply_to: str | None,
        on_behalf_of: ReleaseManager | None = None,
    ) -> models.OutboxMessage:
        rendered = self.templates.render(template, project=release.project.key, context=context)
        sender = self.settings.mail_from
        headers = {"Reply-To": vote.list_address, "X-ATR-Vote": str(vote.id)}
        manager = on_behalf_of.address if on_behalf_of is not None else None
        if on_behalf_of is not None and manager is not None:
            if release.project.vote_mail_from == "release_manager":
                headers["Sender"] = sender  # the agent sends it; the envelope is the agent's
                sender = manager
            else:
                _name, agent_addr = email.utils.parseaddr(self.settings.mail_from)
                sender = email.utils.formataddr((f"{on_behalf_of.name} via ATR", agent_addr))
                headers["Reply-To"] = f"{vote.list_address}, {manager}"
        return queue_mail(
            session,
            kind=kind,
            sender=sender,
            recipients=recipients,
            subject=rendered.subject,
            body=rendered.body,
            actor=actor,
            project=release.project.key,
            version=release.version,
            in_reply_to=in_reply_to,
            headers=headers,
            message_id=make_message_id(self.settings.mail_from),
        )

    def vote_started(
        self, session: Session, vote: models.Vote, release: models.Release, *, actor: str
    ) -> models.OutboxMessage:
        """The ``[VOTE]`` mail; the vote's thread is its Message-ID."""
        context = self._context(session, vote, release)
        row = self._queue(
            session,
            kind="vote",
            template="vote.txt.j2",
            vote=vote,
            release=release,
            context=context,
            recipients=[vote.list_address],
            actor=actor,
            in_reply_to=None,
            on_behalf_of=release_manager(session, release),
        )
        vote.thread_message_id = row.message_id
        vote.tally = {**(vote.tally or {}), "subject": row.subject}
        return row

    def ballot_cast(
        self,
        session: Session,
        vote: models.Vote,
        release: models.Release,
        ballot: models.Ballot,
        *,
        actor: str,
    ) -> models.OutboxMessage:
        """One message to the list for a ballot cast in the desktop, with the signed text."""
        context = self._context(session, vote, release)
        tally = tally_of(vote)
        context["ballot"] = {
            "voter": ballot.voter,
            "value": value_text(ballot.value),
            "binding": ballot.binding,
            "comment": ballot.comment,
            "fingerprint": ballot.fingerprint,
            "signed_text": (ballot.signed_text or "").strip(),
        }
        context["tally"] = tally.model_dump(mode="json")
        context["tally_text"] = (
            f"binding +1: {tally.binding['+1']}, 0: {tally.binding['0']}, "
            f"-1: {tally.binding['-1']}; non-binding +1: {tally.non_binding['+1']}, "
            f"0: {tally.non_binding['0']}, -1: {tally.non_binding['-1']}"
        )
        return self._queue(
            session,
            kind="ballot",
            template="ballot.txt.j2",
            vote=vote,
            release=release,
            context=context,
            recipients=[vote.list_address],
            actor=actor,
            in_reply_to=vote.thread_message_id,
        )

    def result(
        self,
        session: Session,
        vote: models.Vote,
        release: models.Release,
        *,
        outcome: str,
        reason: str,
        next_step: str,
        closed_early: str | None,
        recipients: list[str],
        actor: str,
    ) -> models.OutboxMessage:
        """The ``[RESULT] [VOTE]`` mail with the tally, who voted, and what happens next."""
        context = self._context(session, vote, release)
        current = [b for b in vote.ballots if not b.superseded]
        voters = [
            {
                "voter": b.voter,
                "value": value_text(b.value),
                "source": b.source,
                "source_text": SOURCE_TEXT[ballot_to_wire(b).source],
                "binding": b.binding,
            }
            for b in sorted(current, key=lambda b: (-b.value, b.voter))
        ]
        archive = (self.settings.mail_archive_url or "").rstrip("/")
        context.update(
            list_archive_url=f"{archive}/list.html?{vote.list_address}" if archive else "",
            outcome=outcome,
            reason=reason,
            next_step=next_step,
            closed_early=closed_early or "",
            tally=tally_of(vote).model_dump(mode="json"),
            binding_voters=[v for v in voters if v["binding"]],
            non_binding_voters=[v for v in voters if not v["binding"]],
        )
        return self._queue(
            session,
            kind="result",
            template="result.txt.j2",
            vote=vote,
            release=release,
            context=context,
            recipients=recipients,
            actor=actor,
            in_reply_to=vote.thread_message_id,
        )
