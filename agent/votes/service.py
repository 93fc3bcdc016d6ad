"""Every write of a vote: start, ballots (signed or by email), decision, early close.

:class:`VoteService` owns its transactions, because casting a ballot runs GnuPG
between reading and writing, and a refused ballot must leave its
``vote.ballot_refused`` event even though nothing else is written.

Who may do what:

=========================  ==============================================================
start a vote               a PMC member of the project, or its release manager (the
                           release's creator, a committer)
cast a signed ballot       any user with a registered key, for themselves; binding if a
                           PMC member of the project's committee (round ``incubator``:
                           of the ``incubator`` committee) when the ballot is cast
import email ballots       a PMC member or the release manager (or an IPMC member for
                           the Incubator round); the agent reads ``vote_maildir`` itself
decide                     the agent's scheduler, when the end time has passed
close early                the operator (``atr-agent vote close``), logged with a reason
=========================  ==============================================================

Errors: :class:`BallotRefused` (400) and :class:`BindingRefused` (403) for a
refused ballot, :class:`~agent.store.Conflict` (409) for a vote that cannot
start, :class:`~agent.store.NotFound` and :class:`~agent.store.Forbidden`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.engine.events import append_event
from agent.mail.outbox import address_of
from agent.mail.render import MailTemplates
from agent.phases import transition_as
from agent.store import (
    OPERATOR,
    Conflict,
    Forbidden,
    NotFound,
    PmcWriter,
    Principal,
    Store,
    project_for,
    release_row,
    require_manager,
)
from agent.votes import mailparse
from agent.votes.mails import VoteMail
from agent.votes.views import (
    INCUBATOR_COMMITTEE,
    VALUE_OF,
    Links,
    ballot_to_wire,
    ends_text,
    open_vote,
    refresh_superseded,
    tally_of,
    vote_settings,
    vote_to_wire,
)
from shared.errors import OpenPGPError, ValidationError
from shared.lifecycle import Phase
from shared.openpgp.cleartext import CleartextVerification, verify_cleartext
from shared.openpgp.gnupg import SignatureStatus
from shared.protocol import EventKind, Role, TransitionRequest
from shared.protocol.votes import (
    BallotCast,
    BallotContent,
    BallotOut,
    BallotSource,
    MailImportResult,
    MailSource,
    Tally,
    VoteOut,
    VoteSettings,
    VoteSettingsUpdate,
    VoteStart,
)
from shared.votes import check_reviewed, decide, explain, parse_ballot_text

__all__ = ["POLICY_MIN_HOURS", "BallotRefused", "BindingRefused", "VoteService"]

log = logging.getLogger(__name__)

POLICY_MIN_HOURS = 72.0
"""ASF policy: a release vote stays open at least 72 hours."""
SECURITY_MIN_HOURS = 1.0
"""A security release voted on the private list may be this short."""
MAX_HOURS = 30 * 24.0
CLOCK_SKEW = timedelta(minutes=10)
"""How far a ballot's signature time or an email's Date may be off the agent's clock."""

_SIGNATURE_PROBLEMS = {
    SignatureStatus.BAD: "the ballot's signature does not match its text: it was changed after "
    "signing, or forged",
    SignatureStatus.REVOKED_KEY: "the ballot was signed with a revoked key",
    SignatureStatus.EXPIRED_KEY: "the ballot was signed with an expired key",
    SignatureStatus.EXPIRED_SIGNATURE: "the ballot's signature has expired",
    SignatureStatus.ERROR: "the ballot's signature cannot be checked",
}


class BallotRefused(ValidationError):
    """A ballot the agent does not count: bad signature, content that does not match the vote."""


class BindingRefused(Forbidden):
    """A ballot claiming to be binding from someone whose vote is not binding."""


def _noop() -> None:
    return None


def signed_ballot_source(principal: Principal) -> BallotSource:
    """Where a signed ballot came from, by the credentials that cast it: a desktop login
    session (made by signing a login challenge with the user's key — what the desktop does)
    is ``desktop``; an API token (``atr vote cast``, scripts) is ``api``. Email ballots are
    ``email``. The signature itself is checked the same way whatever the source."""
    return "desktop" if principal.token_kind == "session" else "api"


@dataclass
class VoteService:
    """Vote writes for one agent (see the module docstring).

    ``transaction`` opens a write transaction (committed on success, the event bus
    woken after); ``read`` a read session; ``on_mail`` is called after a commit
    that queued mail (the scheduler delivers it at once).
    """

    transaction: Callable[[], AbstractContextManager[Session]]
    read: Callable[[], AbstractContextManager[Session]]
    settings: Settings
    templates: MailTemplates
    on_mail: Callable[[], None] = _noop
    _maildir_seen: tuple[Any, ...] | None = field(default=None, repr=False)

    @property
    def links(self) -> Links:
        return Links(self.settings.effective_public_url)

    @property
    def mail(self) -> VoteMail:
        return VoteMail(self.settings, self.templates, self.links)

    # --- durations ---------------------------------------------------------------------------

    @property
    def test_mode(self) -> bool:
        """Whether ``vote_min_hours_floor`` is below the policy's 72 h (tests only)."""
        return self.settings.vote_min_hours_floor < POLICY_MIN_HOURS

    def minimum_hours(self, project: models.Project, *, security: bool) -> float:
        """The shortest vote allowed for ``project``."""
        floor = self.settings.vote_min_hours_floor
        if security:
            return min(SECURITY_MIN_HOURS, floor)
        if self.test_mode:
            return floor
        return max(float(project.vote_min_hours), floor)

    def _hours(self, project: models.Project, body: VoteStart) -> float:
        hours = body.hours if body.hours is not None else float(project.vote_min_hours)
        minimum = self.minimum_hours(project, security=body.security)
        if hours < minimum:
            kind = "a security vote" if body.security else f"a vote of {project.key}"
            raise ValidationError(
                f"{kind} stays open at least {minimum:g} hours; {hours:g} were asked",
                hint="only a security release on the private list may be shorter than 72 hours",
            )
        if hours > MAX_HOURS:
            raise ValidationError(f"a vote may last at most {MAX_HOURS:g} hours")
        return hours

    def update_settings(
        self, principal: Principal, project: str, body: VoteSettingsUpdate
    ) -> VoteSettings:
        """Change a project's lists and shortest vote (PMC of the project)."""
        with self.transaction() as session:
            row = project_for(
                session,
                principal,
                project,
                Role.PMC,
                what=f"changing the vote settings of '{project}'",
            )
            floor = self.settings.vote_min_hours_floor
            lowest = floor if self.test_mode else max(POLICY_MIN_HOURS, floor)
            if body.vote_min_hours is not None and body.vote_min_hours < lowest:
                raise ValidationError(
                    f"a vote stays open at least {lowest:g} hours; "
                    f"vote_min_hours cannot be {body.vote_min_hours}"
                )
            changes: dict[str, Any] = {}
            for name in ("dev_list", "private_list"):
                value = getattr(body, name)
                if value is not None:
                    address_of(value)
                    changes[name] = value.strip()
            if body.vote_min_hours is not None:
                changes["vote_min_hours"] = body.vote_min_hours
            if body.vote_mail_from is not None:
                changes["vote_mail_from"] = body.vote_mail_from
            for name, value in changes.items():
                setattr(row, name, value)
            session.flush()
            out = vote_settings(row)
            if changes:
                append_event(
                    session,
                    EventKind.VOTE_SETTINGS_CHANGED,
                    actor=principal.name,
                    project=row.key,
                    data={"changed": sorted(changes), **out.model_dump(mode="json")},
                )
        return out

    # --- who may -----------------------------------------------------------------------------

    @staticmethod
    def _is_pmc(session: Session, user_id: int | None, committee_id: int) -> bool:
        if user_id is None:
            return False
        role = session.scalar(
            select(models.Membership.role).where(
                models.Membership.user_id == user_id,
                models.Membership.committee_id == committee_id,
            )
        )
        return role == Role.PMC.value

    @staticmethod
    def _binding_committee(session: Session, vote: models.Vote, project: models.Project) -> int:
        if vote.round != "incubator":
            return project.committee_id
        committee_id = session.scalar(
            select(models.Committee.id).where(models.Committee.name == INCUBATOR_COMMITTEE)
        )
        return committee_id if committee_id is not None else -1

    # --- starting ------------------------------------------------------------------------------

    def start(self, principal: Principal, project: str, version: str, body: VoteStart) -> VoteOut:
        """Start the vote on the release's latest revision (see the module docstring)."""
        if body.round != "project":
            raise ValidationError(
                "the Incubator's vote starts by itself when the podling's vote passes",
                hint="start the podling's vote (round 'project')",
            )
        with self.transaction() as session:
            release = release_row(session, project, version, lock=True)
            require_manager(principal, release, what="starting a vote")
            row = release.project
            phase = Phase(release.phase)
            if phase is Phase.VOTE:
                raise Conflict(f"release {project} {version} has an open vote already")
            if phase not in (Phase.CANDIDATE, Phase.STAGED):
                raise Conflict(
                    f"release {project} {version} is in phase '{phase}'; a vote starts on a "
                    "candidate (phase 'candidate' or 'staged')",
                    hint="move it through 'checks' to 'candidate' first",
                )
            self._cancel_stale(session, release, actor=principal.name)
            revision = session.scalars(
                select(models.Revision)
                .where(models.Revision.release_id == release.id)
                .order_by(models.Revision.number.desc())
                .limit(1)
            ).first()
            if revision is None:
                raise Conflict(f"release {project} {version} has no revision to vote on")
            hours = self._hours(row, body)
            settings = vote_settings(row)
            now = datetime.now(UTC)
            ends_at = now + timedelta(hours=hours)
            vote = models.Vote(
                release_id=release.id,
                revision_id=revision.id,
                round="project",
                list_address=settings.private_list if body.security else settings.dev_list,
                security=body.security,
                started_by=principal.name,
                started_at=now,
                ends_at=ends_at,
                state="open",
                tally={},
                source_ref=body.source_ref,
                source_url=body.source_url,
                release_notes_url=body.release_notes_url,
            )
            session.add(vote)
            session.flush()  # the store lets a release into 'vote' only with an open vote
            # The RM may be a committer only: the vote's phase change is theirs (checked above),
            # made through the PMC tier so the checks gate and the lifecycle apply as everywhere.
            transition_as(
                PmcWriter(session, principal, row),
                version,
                TransitionRequest(
                    to=Phase.VOTE,
                    reason=f"vote on revision {revision.number} open until {ends_text(ends_at)}",
                ),
            )
            out = self._opened(session, vote, release, actor=principal.name, hours=hours)
        self.on_mail()
        return out

    def _cancel_stale(self, session: Session, release: models.Release, *, actor: str) -> None:
        """Cancel open votes of a release that left phase 'vote' before they ended (a PMC
        member moved it by hand): they can no longer decide anything."""
        now = datetime.now(UTC)
        stale = session.scalars(
            select(models.Vote).where(
                models.Vote.release_id == release.id, models.Vote.state == "open"
            )
        ).all()
        for vote in stale:
            reason = f"the release left phase 'vote' (now '{release.phase}') before the vote ended"
            vote.state = "cancelled"
            vote.decided_at = now
            final = self._store_tally(vote, reason=reason)
            append_event(
                session,
                EventKind.VOTE_DECIDED,
                actor=actor,
                project=release.project.key,
                version=release.version,
                data={
                    "vote_id": vote.id,
                    "round": vote.round,
                    "outcome": "cancelled",
                    "reason": reason,
                    "tally": final.model_dump(mode="json"),
                },
            )

    def _opened(
        self,
        session: Session,
        vote: models.Vote,
        release: models.Release,
        *,
        actor: str,
        hours: float,
    ) -> VoteOut:
        mail = self.mail.vote_started(session, vote, release, actor=actor)
        self._store_tally(vote)
        append_event(
            session,
            EventKind.VOTE_STARTED,
            actor=actor,
            project=release.project.key,
            version=release.version,
            data={
                "vote_id": vote.id,
                "round": vote.round,
                "revision": _revision_number(session, vote),
                "list": vote.list_address,
                "security": vote.security,
                "hours": round(hours, 4),
                "ends_at": vote.ends_at.isoformat(),
                "mail_id": mail.id,
                "message_id": mail.message_id,
                "test_mode": self.test_mode,
            },
        )
        return vote_to_wire(session, vote, self.links)

    @staticmethod
    def _store_tally(vote: models.Vote, **extra: Any) -> Tally:
        refresh_superseded(vote)
        tally = tally_of(vote)
        kept = {k: v for k, v in (vote.tally or {}).items() if k in ("subject", "reason")}
        vote.tally = {**kept, **tally.model_dump(mode="json"), **extra}
        return tally

    # --- signed ballots ----------------------------------------------------------------------

    def cast(self, principal: Principal, project: str, version: str, body: BallotCast) -> BallotOut:
        """Verify and record a clear-signed ballot of ``principal`` (see the module docstring)."""
        if principal.user_id is None:
            raise Forbidden("a ballot is cast by a user with a registered key; log in as one")
        if principal.token_project not in (None, project):
            raise Forbidden(
                f"a ballot on '{project}' is a write to that project; this token is limited to "
                f"project '{principal.token_project}'",
                hint="use a token for this project or an unscoped token",
            )
        with self.read() as session:
            release = release_row(session, project, version)
            vote_id = open_vote(session, release).id
            keys = list(
                session.scalars(
                    select(models.UserKey.armored).where(
                        models.UserKey.user_id == principal.user_id,
                        models.UserKey.revoked_at.is_(None),
                    )
                )
            )
        try:
            content, verification = self._verify(principal, keys, body.signed)
            with self.transaction() as session:
                out = self._record_signed(
                    session,
                    principal,
                    vote_id=vote_id,
                    project=project,
                    version=version,
                    content=content,
                    verification=verification,
                    body=body,
                )
        except (BallotRefused, BindingRefused) as refusal:
            self._refused(principal, project, version, vote_id, refusal)
            raise
        self.on_mail()
        return out

    def _verify(
        self, principal: Principal, keys: list[str], signed: str
    ) -> tuple[BallotContent, CleartextVerification]:
        if not keys:
            raise BallotRefused(
                f"user '{principal.name}' has no registered, unrevoked OpenPGP key to check "
                "the ballot with",
                hint="ask an admin to register your public key",
            )
        try:
            verification = verify_cleartext(signed, keys)
        except OpenPGPError as exc:
            raise BallotRefused(f"the ballot cannot be read: {exc.message}", hint=exc.hint) from exc
        if verification.status is SignatureStatus.NO_PUBLIC_KEY:
            raise BallotRefused(
                f"the ballot is not signed with a key registered for user '{principal.name}'",
                hint="sign your ballot with your own registered key",
            )
        if not verification.valid:
            problem = _SIGNATURE_PROBLEMS.get(verification.status, "the signature does not verify")
            raise BallotRefused(problem)
        try:
            content = parse_ballot_text(verification.text)
        except ValidationError as exc:
            raise BallotRefused(exc.message, hint=exc.hint) from exc
        return content, verification

    def _record_signed(
        self,
        session: Session,
        principal: Principal,
        *,
        vote_id: int,
        project: str,
        version: str,
        content: BallotContent,
        verification: CleartextVerification,
        body: BallotCast,
    ) -> BallotOut:
        vote = session.get(models.Vote, vote_id, with_for_update=True)
        release = release_row(session, project, version)
        now = datetime.now(UTC)
        if (
            vote is None
            or vote.state != "open"
            or vote.ends_at <= now
            or release.phase != Phase.VOTE.value
        ):
            raise BallotRefused(f"the vote on {project} {version} is closed")
        revision = session.get(models.Revision, vote.revision_id)
        if revision is None:  # pragma: no cover - foreign key
            raise NotFound("the vote's revision is gone")
        self._check_content(content, project, version, revision)
        self._check_signature_time(verification, vote, now)
        signed_text = body.signed.strip() + "\n"
        if any(b.signed_text == signed_text for b in vote.ballots):
            raise BallotRefused("this signed ballot was cast already; sign a new one to change it")
        member = self._is_pmc(
            session, principal.user_id, self._binding_committee(session, vote, release.project)
        )
        if content.binding and member and principal.token_role.rank < Role.PMC.rank:
            raise BindingRefused(
                f"the ballot of '{principal.name}' claims to be binding, but it was sent with a "
                f"token limited to the '{principal.token_role}' role: a binding vote needs a "
                "token with the 'pmc' role",
                hint="cast it with your desktop login or a token with the 'pmc' role",
            )
        member = member and principal.token_role.rank >= Role.PMC.rank
        if content.binding and not member:
            where = "the Incubator PMC" if vote.round == "incubator" else "the project's PMC"
            raise BindingRefused(
                f"the ballot of '{principal.name}' claims to be binding, but they are not a "
                f"member of {where}: only PMC members' votes are binding",
                hint="cast it again without claiming a binding vote; it is welcome as non-binding",
            )
        binding = member and content.binding is not False
        source = signed_ballot_source(principal)
        ballot = models.Ballot(
            vote_id=vote.id,
            user_id=principal.user_id,
            voter=principal.name,
            value=VALUE_OF[content.value],
            binding=binding,
            source=source,
            comment=content.comment,
            signed_text=signed_text,
            fingerprint=verification.signer,
            reviewed=dict(content.reviewed),
            cast_at=now,
        )
        before = tally_of(vote)
        vote.ballots.append(ballot)
        session.flush()
        tally = self._store_tally(vote)
        mail = self.mail.ballot_cast(session, vote, release, ballot, actor=principal.name)
        ballot.message_id = mail.message_id
        append_event(
            session,
            EventKind.BALLOT_CAST,
            actor=principal.name,
            project=project,
            version=version,
            data={
                "vote_id": vote.id,
                "round": vote.round,
                "voter": principal.name,
                "value": content.value,
                "binding": binding,
                "source": source,
                "fingerprint": verification.signer,
                "mail_id": mail.id,
            },
        )
        self._tally_event(session, vote, release, tally, before=before, actor=principal.name)
        return ballot_to_wire(ballot)

    @staticmethod
    def _check_content(
        content: BallotContent, project: str, version: str, revision: models.Revision
    ) -> None:
        if content.project != project or content.version != version:
            raise BallotRefused(
                f"the ballot is for {content.project} {content.version}, not {project} {version}"
            )
        if content.revision != revision.number:
            raise BallotRefused(
                f"the ballot is for revision {content.revision}; the vote is on revision "
                f"{revision.number}",
                hint="download the candidate that is under vote and review it",
            )
        files = {f.path: f.blob.sha512 for f in revision.files}
        try:
            check_reviewed(dict(content.reviewed), files, value=content.value)
        except ValidationError as exc:
            raise BallotRefused(exc.message, hint=exc.hint) from exc

    @staticmethod
    def _check_signature_time(
        verification: CleartextVerification, vote: models.Vote, now: datetime
    ) -> None:
        created = verification.signature.created
        if created is None:
            return
        signed_at = datetime.fromtimestamp(created, UTC)
        if signed_at < vote.started_at - CLOCK_SKEW:
            raise BallotRefused(
                f"the ballot was signed at {signed_at:%Y-%m-%d %H:%M} UTC, before this vote "
                f"started ({vote.started_at:%Y-%m-%d %H:%M} UTC): it belongs to another vote"
            )
        if signed_at > now + CLOCK_SKEW:
            raise BallotRefused(
                f"the ballot's signature is dated in the future ({signed_at:%Y-%m-%d %H:%M} UTC)",
                hint="check your computer's clock",
            )

    def _refused(
        self,
        principal: Principal,
        project: str,
        version: str,
        vote_id: int,
        refusal: BallotRefused | BindingRefused,
    ) -> None:
        with self.transaction() as session:
            append_event(
                session,
                EventKind.BALLOT_REFUSED,
                actor=principal.name,
                project=project,
                version=version,
                data={
                    "vote_id": vote_id,
                    "voter": principal.name,
                    "reason": refusal.message,
                    "binding_claim": isinstance(refusal, BindingRefused),
                },
            )

    def _tally_event(
        self,
        session: Session,
        vote: models.Vote,
        release: models.Release,
        tally: Tally,
        *,
        before: Tally | None,
        actor: str,
    ) -> None:
        if before is not None and before == tally:
            return
        append_event(
            session,
            EventKind.TALLY_CHANGED,
            actor=actor,
            project=release.project.key,
            version=release.version,
            data={"vote_id": vote.id, "round": vote.round, "tally": tally.model_dump(mode="json")},
        )

    # --- email ballots -----------------------------------------------------------------------

    def import_mail(
        self, principal: Principal, project: str, version: str, source: MailSource
    ) -> MailImportResult:
        """Count the email ballots of an mbox or a Pony Mail thread for the release's open vote."""
        messages = (
            mailparse.read_mbox(source.content)
            if source.format == "mbox"
            else mailparse.read_ponymail(source.content)
        )
        with self.transaction() as session:
            release = release_row(session, project, version)
            vote = open_vote(session, release, lock=True)
            if release.phase != Phase.VOTE.value:
                raise Conflict(
                    f"the vote on {project} {version} is closed: the release is in phase "
                    f"'{release.phase}'"
                )
            incubator = vote.round == "incubator" and self._is_pmc(
                session, principal.user_id, self._binding_committee(session, vote, release.project)
            )
            if not incubator:  # an IPMC member imports the Incubator round's ballots
                require_manager(principal, release, what="importing email ballots")
            counted, ignored = self._record_email(
                session, vote, release, messages, actor=principal.name, source=source.format
            )
            tally = tally_of(vote)
        return MailImportResult(counted=counted, ignored=ignored, tally=tally)

    def _user_by_address(self, session: Session, addresses: Iterable[str]) -> dict[str, int]:
        wanted = {a for a in addresses if a}
        found: dict[str, int] = {}
        if not wanted:
            return found
        for user_id, mail in session.execute(select(models.User.id, models.User.email)):
            if mail.lower() in wanted:
                found.setdefault(mail.lower(), user_id)
        for user_id, uids in session.execute(
            select(models.UserKey.user_id, models.UserKey.user_ids)
        ):
            for uid in uids or ():
                if "<" in uid and uid.endswith(">"):
                    addr = uid[uid.rindex("<") + 1 : -1].strip().lower()
                    if addr in wanted:
                        found.setdefault(addr, user_id)
        return found

    def _classify(
        self,
        msg: mailparse.MailMessage,
        vote: models.Vote,
        matcher: mailparse.ThreadMatcher,
        own: set[str],
    ) -> str | None:
        """Why ``msg`` is not a ballot of ``vote`` (None: it is)."""
        agent_address = address_of(self.settings.mail_from)
        date = msg.date
        problems = (
            ((msg.message_id or "") in own or msg.sender == agent_address, "sent by the agent"),
            (not msg.sender, "has no From address"),
            (not matcher.matches(msg), "not in the vote's thread"),
            (date is None, "has no Date"),
            (
                date is not None and date < vote.started_at - CLOCK_SKEW,
                "sent before the vote started",
            ),
            (date is not None and date > vote.ends_at, "sent after the vote ended"),
            (not msg.body.strip(), "has no plain-text body"),
        )
        for failed, problem in problems:
            if failed:
                return problem
        reading = mailparse.find_vote(msg.body)
        return reading.problem if reading.value is None else None

    def _note_thread(
        self,
        vote: models.Vote,
        messages: list[mailparse.MailMessage],
        matcher: mailparse.ThreadMatcher,
    ) -> None:
        """Remember the vote thread's permalink in the list archive, from an imported Pony
        Mail thread (any message of the thread links the whole thread)."""
        archive = (self.settings.mail_archive_url or "").rstrip("/")
        if vote.thread_url or not archive:
            return
        for msg in messages:
            if msg.archive_id and (
                msg.message_id == vote.thread_message_id or matcher.matches(msg)
            ):
                vote.thread_url = f"{archive}/thread/{msg.archive_id}"
                return

    def _record_email(
        self,
        session: Session,
        vote: models.Vote,
        release: models.Release,
        messages: list[mailparse.MailMessage],
        *,
        actor: str,
        source: str,
        report_known: bool = True,
    ) -> tuple[int, list[str]]:
        project = release.project
        matcher = mailparse.ThreadMatcher(
            thread_message_id=vote.thread_message_id,
            list_address=vote.list_address,
            names=(project.key, project.name),
            version=release.version,
        )
        known = {b.message_id for b in vote.ballots if b.message_id}
        ids = [m.message_id for m in messages if m.message_id]
        own = set(
            session.scalars(
                select(models.OutboxMessage.message_id).where(
                    models.OutboxMessage.message_id.in_(ids)
                )
            )
            if ids
            else ()
        )
        self._note_thread(vote, messages, matcher)
        users = self._user_by_address(session, (m.sender for m in messages))
        committee = self._binding_committee(session, vote, project)
        before = tally_of(vote)
        counted, ignored = 0, []
        for msg in messages:
            if msg.message_id and msg.message_id in known:
                if report_known:
                    ignored.append(f"{msg.label}: counted already")
                continue
            problem = self._classify(msg, vote, matcher, own)
            if problem is not None:
                if report_known:
                    ignored.append(f"{msg.label}: {problem}")
                continue
            value = mailparse.find_vote(msg.body).value
            if value is None or msg.date is None:  # pragma: no cover - _classify said so
                continue
            user_id = users.get(msg.sender)
            user = session.get(models.User, user_id) if user_id is not None else None
            binding = self._is_pmc(session, user_id, committee)
            ballot = models.Ballot(
                vote_id=vote.id,
                user_id=user_id,
                voter=user.name if user is not None else msg.sender,
                value=VALUE_OF[value],
                binding=binding,
                source="email",
                comment="",
                message_id=msg.message_id,
                cast_at=msg.date,
            )
            vote.ballots.append(ballot)
            session.flush()
            if msg.message_id:
                known.add(msg.message_id)
            counted += 1
            append_event(
                session,
                EventKind.BALLOT_CAST,
                actor=actor,
                project=project.key,
                version=release.version,
                data={
                    "vote_id": vote.id,
                    "round": vote.round,
                    "voter": ballot.voter,
                    "value": value,
                    "binding": binding,
                    "source": "email",
                    "from": msg.sender,
                    "message_id": msg.message_id,
                    "mail_source": source,
                },
            )
        if counted:
            tally = self._store_tally(vote)
            self._tally_event(session, vote, release, tally, before=before, actor=actor)
        return counted, ignored

    def scan_maildir(self, path: Path) -> int:
        """Count new email ballots from the configured Maildir for every open vote.

        The Maildir is read again only when its folders changed (or the open votes did).
        """
        with self.read() as session:
            open_ids = list(
                session.scalars(select(models.Vote.id).where(models.Vote.state == "open"))
            )
        if not open_ids:
            return 0
        try:
            folders = [
                (p.stat().st_mtime_ns, len(list(p.iterdir()))) for p in (path / "new", path / "cur")
            ]
            stamp = (*folders, tuple(open_ids))
        except OSError as exc:
            log.warning("cannot read the vote Maildir %s: %s", path, exc)
            return 0
        if stamp == self._maildir_seen:
            return 0
        messages = mailparse.read_maildir(path)
        total = 0
        for vote_id in open_ids:
            with self.transaction() as session:
                vote = session.get(models.Vote, vote_id, with_for_update=True)
                if vote is None or vote.state != "open":
                    continue
                release = session.get(models.Release, vote.release_id)
                if release is None or release.phase != Phase.VOTE.value:
                    continue
                counted, _ = self._record_email(
                    session,
                    vote,
                    release,
                    messages,
                    actor=OPERATOR,
                    source="maildir",
                    report_known=False,
                )
                total += counted
        self._maildir_seen = stamp
        return total

    # --- deciding ----------------------------------------------------------------------------

    def due_votes(self, now: datetime) -> list[int]:
        """Ids of open votes whose end time has passed."""
        with self.read() as session:
            return list(
                session.scalars(
                    select(models.Vote.id)
                    .where(models.Vote.state == "open", models.Vote.ends_at <= now)
                    .order_by(models.Vote.id)
                )
            )

    def decide_due(self, now: datetime | None = None) -> list[int]:
        """Decide every open vote whose end time has passed; returns the ids decided here."""
        moment = now or datetime.now(UTC)
        decided = [v for v in self.due_votes(moment) if self.decide(v, moment, notify=False)]
        if decided:
            self.on_mail()
        return decided

    def decide(self, vote_id: int, now: datetime, *, notify: bool = True) -> bool:
        """Decide one vote if it is open and its end time has passed at ``now``.

        False when there is nothing to do: not due, decided already, or decided by another
        agent at the same moment (the claim is a conditional UPDATE).
        """
        with self.transaction() as session:
            done = self._decide(session, vote_id, now)
        if done and notify:
            self.on_mail()
        return done

    def close_now(self, project: str, version: str, *, reason: str) -> VoteOut:
        """End the release's open vote now and decide it (the operator's override, logged)."""
        if not reason.strip():
            raise ValidationError("closing a vote early needs a reason, for the record")
        now = datetime.now(UTC)
        with self.transaction() as session:
            release = release_row(session, project, version)
            vote = open_vote(session, release, lock=True)
            scheduled = vote.ends_at
            vote.ends_at = min(vote.ends_at, now)
            session.flush()
            self._decide(
                session,
                vote.id,
                now,
                closed_early={"reason": reason.strip(), "scheduled_end": scheduled.isoformat()},
            )
            session.refresh(vote)
            out = vote_to_wire(session, vote, self.links)
        self.on_mail()
        return out

    def _decide(
        self,
        session: Session,
        vote_id: int,
        now: datetime,
        *,
        closed_early: dict[str, str] | None = None,
    ) -> bool:
        vote = session.get(models.Vote, vote_id)
        if vote is None or vote.state != "open" or vote.ends_at > now:
            return False
        release = session.get(models.Release, vote.release_id)
        if release is None:  # pragma: no cover - foreign key
            return False
        tally = tally_of(vote)
        if release.phase != Phase.VOTE.value:
            outcome, reason = "cancelled", f"the release left phase 'vote' (now '{release.phase}')"
        else:
            outcome, reason = decide(tally.binding), explain(tally.binding)
        claimed = session.execute(
            update(models.Vote)
            .where(models.Vote.id == vote_id, models.Vote.state == "open")
            .values(state=outcome, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return False  # another agent decided it first
        session.refresh(vote)
        final = self._store_tally(vote, reason=reason)
        project = release.project
        next_step = (
            self._after(session, vote, release, outcome, reason) if outcome != "cancelled" else ""
        )
        data: dict[str, Any] = {
            "vote_id": vote.id,
            "round": vote.round,
            "outcome": outcome,
            "reason": reason,
            "tally": final.model_dump(mode="json"),
            "seconds_open": round((now - vote.started_at).total_seconds(), 3),
        }
        if closed_early is not None:
            data["closed_early"] = closed_early
        append_event(
            session,
            EventKind.VOTE_DECIDED,
            actor=OPERATOR,
            project=project.key,
            version=release.version,
            data=data,
        )
        self._tally_event(session, vote, release, final, before=None, actor=OPERATOR)
        if outcome != "cancelled":
            recipients = [vote.list_address]
            dev_list = vote_settings(project).dev_list
            if vote.round == "incubator" and dev_list not in recipients:
                recipients.append(dev_list)
            self.mail.result(
                session,
                vote,
                release,
                outcome=outcome,
                reason=reason,
                next_step=next_step,
                closed_early=(closed_early or {}).get("reason"),
                recipients=recipients,
                actor=OPERATOR,
            )
        return True

    def _after(
        self,
        session: Session,
        vote: models.Vote,
        release: models.Release,
        outcome: str,
        reason: str,
    ) -> str:
        """Move the release on after a decision; returns the sentence for the result mail."""
        project = release.project
        writer = Store(session, Principal.operator()).as_pmc(project.key)
        what = "the Incubator PMC's vote" if vote.round == "incubator" else "the vote"
        if outcome == "failed":
            transition_as(
                writer,
                release.version,
                TransitionRequest(to=Phase.FAILED, reason=f"{what} failed: {reason}"),
            )
            transition_as(
                writer,
                release.version,
                TransitionRequest(to=Phase.COMPOSE, reason="back to compose after the failed vote"),
            )
            return (
                "The release goes back to compose: fix what the vote found in a new revision "
                "and call a new vote."
            )
        if vote.round == "project" and project.committee.podling:
            hours = max(float(project.vote_min_hours), self.minimum_hours(project, security=False))
            now = datetime.now(UTC)
            second = models.Vote(
                release_id=release.id,
                revision_id=vote.revision_id,
                round="incubator",
                list_address=self.settings.incubator_list,
                security=False,
                started_by=vote.started_by,
                started_at=now,
                ends_at=now + timedelta(hours=hours),
                state="open",
                tally={},
                source_ref=vote.source_ref,
                source_url=vote.source_url,
                release_notes_url=vote.release_notes_url,
            )
            session.add(second)
            session.flush()
            self._opened(session, second, release, actor=OPERATOR, hours=hours)
            return (
                f"{project.name} is a podling: the Incubator PMC now votes on the same files on "
                f"{self.settings.incubator_list}, until {ends_text(second.ends_at)}. The release "
                "passes once that vote passes."
            )
        transition_as(
            writer,
            release.version,
            TransitionRequest(to=Phase.PASSED, reason=f"{what} passed: {reason}"),
        )
        return passed_next_step(project.key, release.version, self.links.downloads(project.key))


def passed_next_step(project: str, version: str, download_page: str) -> str:
    """What happens after a passed vote, truthfully: nothing is published until a person
    approves the distribution plan with their own key."""
    return (
        "What happens next: nothing is published yet. The release manager (or a PMC member)\n"
        "reviews the distribution plan - which files go to dist/release and to the project's\n"
        "channels, with their SHA-512 - and approves it with their own OpenPGP key, in the ATR\n"
        f"desktop or with `atr distribute plan {project} {version}`, `gpg --clearsign` of the\n"
        f"plan and `atr distribute approve {project} {version} PLAN.asc`. The agent then\n"
        f"publishes the release to dist/release/{project} and the project's channels, and it\n"
        f"appears on {download_page}\n"
        "The announcement follows once the files are on the download host."
    )


def _revision_number(session: Session, vote: models.Vote) -> int | None:
    revision = session.get(models.Revision, vote.revision_id)
    return revision.number if revision is not None else None
