"""Reading votes: lookups, the live tally and the wire models (no writes here).

The tally is always computed from the ballots with :mod:`shared.votes` (each
person's last ballot counts), so the API, the candidate page and the decision
agree; a decided vote carries its stored outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from agent.store import NotFound
from shared.protocol.votes import (
    BallotOut,
    BallotSource,
    BallotValue,
    Tally,
    VoteOut,
    VoteOutcome,
    VoteSettings,
)
from shared.votes import CountedBallot, compute_tally, current_ballots

__all__ = [
    "INCUBATOR_COMMITTEE",
    "VALUE_OF",
    "Links",
    "ballot_to_wire",
    "counted",
    "latest_vote",
    "list_votes",
    "open_vote",
    "tally_of",
    "value_text",
    "vote_settings",
    "vote_to_wire",
]

INCUBATOR_COMMITTEE = "incubator"
"""The committee whose PMC members' votes are binding in a podling's second round."""

VALUE_OF: dict[BallotValue, int] = {"+1": 1, "0": 0, "-1": -1}
_SOURCES: dict[str, BallotSource] = {"desktop": "desktop", "api": "api", "email": "email"}
_TEXT_OF: dict[int, BallotValue] = {1: "+1", 0: "0", -1: "-1"}


def value_text(value: int) -> BallotValue:
    """``1`` → ``"+1"``, ``0`` → ``"0"``, ``-1`` → ``"-1"``."""
    return _TEXT_OF[value]


@dataclass(frozen=True, slots=True)
class Links:
    """The agent's public URLs for a release."""

    base_url: str

    def candidate(self, project: str, version: str) -> str:
        return f"{self.base_url}/projects/{project}/candidates/{version}/"

    def keys(self, project: str) -> str:
        return f"{self.base_url}/projects/{project}/KEYS"

    def downloads(self, project: str) -> str:
        """The project's hosted download page (where a release goes once distributed)."""
        return f"{self.base_url}/projects/{project}/downloads/"


def vote_settings(project: models.Project) -> VoteSettings:
    """A project's vote settings with the defaults filled in."""
    return VoteSettings(
        dev_list=project.dev_list or f"dev@{project.key}.apache.org",
        private_list=project.private_list or f"private@{project.key}.apache.org",
        vote_min_hours=project.vote_min_hours,
        vote_mail_from=(
            "release_manager" if project.vote_mail_from == "release_manager" else "agent"
        ),
    )


def latest_vote(session: Session, release: models.Release) -> models.Vote | None:
    """The release's most recent vote (any round, any state)."""
    return session.scalars(
        select(models.Vote)
        .where(models.Vote.release_id == release.id)
        .order_by(models.Vote.id.desc())
        .limit(1)
    ).first()


def open_vote(session: Session, release: models.Release, *, lock: bool = False) -> models.Vote:
    """The release's open vote; :class:`NotFound` if none is open."""
    query = select(models.Vote).where(
        models.Vote.release_id == release.id, models.Vote.state == "open"
    )
    if lock:
        query = query.with_for_update()
    row = session.scalars(query.order_by(models.Vote.id.desc()).limit(1)).first()
    if row is None:
        raise NotFound(
            f"release {release.project.key} {release.version} has no open vote",
            hint="a PMC member or the release manager starts one on a candidate",
        )
    return row


def counted(ballots: list[models.Ballot]) -> list[CountedBallot]:
    """The ballots as the rules see them (the person is the voter's name or address)."""
    return [
        CountedBallot(
            person=b.voter,
            value=value_text(b.value),
            binding=b.binding,
            cast_at=b.cast_at,
            order=b.id,
        )
        for b in ballots
    ]


def _outcome(vote: models.Vote) -> VoteOutcome:
    state = vote.state
    if state in ("passed", "failed", "cancelled"):
        return state  # type: ignore[return-value]
    return "open"


def tally_of(vote: models.Vote) -> Tally:
    """The live tally of ``vote`` (its stored outcome once decided)."""
    return compute_tally(counted(list(vote.ballots)), ends_at=vote.ends_at, outcome=_outcome(vote))


def refresh_superseded(vote: models.Vote) -> None:
    """Mark every ballot but each person's last as superseded."""
    ballots = list(vote.ballots)
    current = {b.order for b in current_ballots(counted(ballots)).values()}
    for ballot in ballots:
        ballot.superseded = ballot.id not in current


def ballot_to_wire(row: models.Ballot) -> BallotOut:
    return BallotOut(
        voter=row.voter,
        value=value_text(row.value),
        binding=row.binding,
        source=_SOURCES.get(row.source, "api"),
        comment=row.comment,
        fingerprint=row.fingerprint,
        cast_at=row.cast_at,
        superseded=row.superseded,
    )


def vote_to_wire(session: Session, vote: models.Vote, links: Links) -> VoteOut:
    release = session.get(models.Release, vote.release_id)
    revision = session.get(models.Revision, vote.revision_id)
    if release is None or revision is None:  # pragma: no cover - foreign keys
        raise NotFound(f"vote {vote.id} lost its release or revision")
    key, version = release.project.key, release.version
    return VoteOut(
        id=vote.id,
        project=key,
        version=version,
        revision=revision.number,
        round="incubator" if vote.round == "incubator" else "project",
        list_address=vote.list_address,
        security=vote.security,
        started_by=vote.started_by,
        started_at=vote.started_at,
        ends_at=vote.ends_at,
        tally=tally_of(vote),
        ballots=[ballot_to_wire(b) for b in vote.ballots],
        candidate_url=links.candidate(key, version),
        keys_url=links.keys(key),
        decided_at=vote.decided_at,
        reason=str((vote.tally or {}).get("reason", "")),
        source_ref=vote.source_ref,
        source_url=vote.source_url,
        release_notes_url=vote.release_notes_url,
        thread_url=vote.thread_url,
    )


def list_votes(
    session: Session,
    links: Links,
    *,
    project: str | None = None,
    version: str | None = None,
    state: str | None = None,
) -> list[VoteOut]:
    """Votes, newest first, optionally of one project, one release or in one state."""
    query = select(models.Vote).join(models.Release).join(models.Project)
    if project is not None:
        query = query.where(models.Project.key == project)
    if version is not None:
        query = query.where(models.Release.version == version)
    if state is not None:
        query = query.where(models.Vote.state == state)
    rows = session.scalars(query.order_by(models.Vote.id.desc()).limit(200))
    return [vote_to_wire(session, v, links) for v in rows]


def ends_text(when: datetime) -> str:
    """An end time for people: ``2026-12-02 10:00 UTC``."""
    return when.strftime("%Y-%m-%d %H:%M UTC")
