"""The mail a vote sends: ``[VOTE]`` to open it, one message per signed ballot, ``[RESULT]``.

Each is rendered from the project's template (:mod:`agent.mail.render`) and queued
in the caller's transaction (:func:`agent.mail.outbox.queue_mail`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.mail.outbox import queue_mail
from agent.mail.render import MailTemplates
from agent.votes.views import Links, ballot_to_wire, ends_text, tally_of, value_text
from shared.votes import SOURCE_TEXT, is_artifact

__all__ = ["VoteMail"]


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
        files = list(revision.files) if revision is not None else []
        hours = (vote.ends_at - vote.started_at).total_seconds() / 3600
        return {
            "project": {"key": project.key, "name": project.name},
            "version": release.version,
            "revision": revision.number if revision is not None else None,
            "release_manager": release.created_by,
            "started_by": vote.started_by,
            "vote": {
                "round": vote.round,
                "security": vote.security,
                "list_address": vote.list_address,
            },
            "candidate_url": self.links.candidate(project.key, release.version),
            "keys_url": self.links.keys(project.key),
            "artifacts": [
                {"path": f.path, "sha512": f.blob.sha512, "size": f.blob.size}
                for f in files
                if is_artifact(f.path)
            ],
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
    ) -> models.OutboxMessage:
        rendered = self.templates.render(template, project=release.project.key, context=context)
        return queue_mail(
            session,
            kind=kind,
            sender=self.settings.mail_from,
            recipients=recipients,
            subject=rendered.subject,
            body=rendered.body,
            actor=actor,
            project=release.project.key,
            version=release.version,
            in_reply_to=in_reply_to,
            headers={"Reply-To": vote.list_address, "X-ATR-Vote": str(vote.id)},
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
        context.update(
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
