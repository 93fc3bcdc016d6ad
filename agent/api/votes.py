"""Release votes: start, read, cast a signed ballot, import email ballots; the outbox.

Under ``/api/v1`` (``Authorization: Bearer``):

* ``POST /projects/{key}/releases/{version}/vote`` ``VoteStart`` → ``VoteOut`` (201; PMC or RM)
* ``GET  /projects/{key}/releases/{version}/vote`` → ``VoteOut`` (the latest round)
* ``GET  /projects/{key}/releases/{version}/votes`` → ``list[VoteOut]`` (every round)
* ``GET  /projects/{key}/releases/{version}/vote/tally`` → ``Tally``
* ``POST /projects/{key}/releases/{version}/vote/ballots`` ``BallotCast`` → ``BallotOut`` (201)
* ``POST /projects/{key}/releases/{version}/vote/mail`` ``MailSource`` → ``MailImportResult``
* ``GET  /projects/{key}/vote-settings`` → ``VoteSettings``; ``PUT`` ``VoteSettingsUpdate`` (PMC)
* ``GET  /votes?project=&state=`` → ``list[VoteOut]`` (e.g. ``state=open``)
* ``GET  /outbox?project=&version=&state=`` → ``list[OutboxItem]`` (admin)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.mail.outbox import list_outbox
from agent.store import NotFound, project_row, readable_project, release_row, require_role
from agent.votes import views
from agent.votes.scheduler import Scheduler
from agent.votes.service import VoteService
from shared.errors import ValidationError
from shared.ids import ProjectKey, Version
from shared.protocol import Role
from shared.protocol.votes import (
    BallotCast,
    BallotOut,
    MailImportResult,
    MailSource,
    OutboxItem,
    Tally,
    VoteOut,
    VoteSettings,
    VoteSettingsUpdate,
    VoteStart,
)

router = APIRouter(tags=["votes"])
mail_router = APIRouter(tags=["votes"])
"""The mail import alone: its body may be far larger (``max_mail_import_bytes``)."""

State = Annotated[AgentState, Depends(get_state)]


def get_scheduler(request: Request) -> Scheduler:
    """The app's scheduler (and through it the vote service)."""
    scheduler: Scheduler = request.app.state.scheduler
    return scheduler


def get_votes(scheduler: Annotated[Scheduler, Depends(get_scheduler)]) -> VoteService:
    """The app's :class:`VoteService`."""
    return scheduler.votes


Votes = Annotated[VoteService, Depends(get_votes)]
RELEASE = "/projects/{key}/releases/{version}"


@router.post(RELEASE + "/vote", response_model=VoteOut, status_code=201)
def start_vote(
    key: ProjectKey, version: Version, body: VoteStart, principal: CurrentPrincipal, votes: Votes
) -> VoteOut:
    """A PMC member or the release manager starts the vote on a candidate without blockers."""
    return votes.start(principal, key, version, body)


@router.get(RELEASE + "/vote", response_model=VoteOut)
def get_vote(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State, votes: Votes
) -> VoteOut:
    """The release's latest vote (the Incubator round once it started)."""
    with state.read() as session:
        release = release_row(session, key, version)
        vote = views.latest_vote(session, release)
        if vote is None:
            raise NotFound(f"release {key} {version} has had no vote")
        return views.vote_to_wire(session, vote, votes.links)


@router.get(RELEASE + "/votes", response_model=list[VoteOut])
def list_release_votes(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State, votes: Votes
) -> list[VoteOut]:
    """Every vote of the release, newest first."""
    with state.read() as session:
        release_row(session, key, version)
        return views.list_votes(session, votes.links, project=key, version=version)


@router.get(RELEASE + "/vote/tally", response_model=Tally)
def get_tally(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State
) -> Tally:
    """The live tally of the latest vote: the shape of ``atr vote status --json``."""
    with state.read() as session:
        release = release_row(session, key, version)
        vote = views.latest_vote(session, release)
        if vote is None:
            raise NotFound(f"release {key} {version} has had no vote")
        return views.tally_of(vote)


@router.post(RELEASE + "/vote/ballots", response_model=BallotOut, status_code=201)
def cast_ballot(
    key: ProjectKey, version: Version, body: BallotCast, principal: CurrentPrincipal, votes: Votes
) -> BallotOut:
    """A clear-signed ballot of the caller (400 refused, 403 a binding claim that does not hold)."""
    return votes.cast(principal, key, version, body)


@mail_router.post(RELEASE + "/vote/mail", response_model=MailImportResult)
def import_mail(
    key: ProjectKey, version: Version, body: MailSource, principal: CurrentPrincipal, votes: Votes
) -> MailImportResult:
    """Count the email ballots in an mbox or a Pony Mail thread (PMC or RM); the body is
    refused unread beyond the agent's ``max_mail_import_bytes`` (413)."""
    return votes.import_mail(principal, key, version, body)


@router.get("/projects/{key}/vote-settings", response_model=VoteSettings)
def get_vote_settings(key: ProjectKey, _principal: CurrentPrincipal, state: State) -> VoteSettings:
    """Where the project's vote mail goes and how long its votes last at least."""
    with state.read() as session:
        return views.vote_settings(project_row(session, key))


@router.put("/projects/{key}/vote-settings", response_model=VoteSettings)
def put_vote_settings(
    key: ProjectKey, body: VoteSettingsUpdate, principal: CurrentPrincipal, votes: Votes
) -> VoteSettings:
    """Change the project's dev list, private list or shortest vote (PMC; at least 72 hours)."""
    return votes.update_settings(principal, key, body)


@router.get("/votes", response_model=list[VoteOut])
def list_all_votes(
    principal: CurrentPrincipal,
    state: State,
    votes: Votes,
    project: Annotated[ProjectKey | None, Query()] = None,
    vote_state: Annotated[str | None, Query(alias="state")] = None,
) -> list[VoteOut]:
    """Votes, newest first: ``state=open`` for the ones running."""
    if vote_state is not None and vote_state not in ("open", "passed", "failed", "cancelled"):
        raise ValidationError(
            f"{vote_state!r} is not a vote state (open, passed, failed, cancelled)"
        )
    project = readable_project(principal, project, what="votes")
    with state.read() as session:
        return views.list_votes(session, votes.links, project=project, state=vote_state)


@router.get("/outbox", response_model=list[OutboxItem])
def outbox(
    principal: CurrentPrincipal,
    state: State,
    project: Annotated[ProjectKey | None, Query()] = None,
    version: Annotated[Version | None, Query()] = None,
    mail_state: Annotated[str | None, Query(alias="state")] = None,
) -> list[OutboxItem]:
    """The agent's outgoing mail, newest first (admin: it includes private lists)."""
    require_role(principal, Role.ADMIN, what="reading the outbox")
    with state.read() as session:
        return list_outbox(session, project=project, version=version, state=mail_state)
