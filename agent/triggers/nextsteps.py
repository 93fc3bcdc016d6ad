"""What each release waits for, and who can do it: the "waiting for you" list.

:func:`release_next` reads a release's phase, its latest revision and its checks, its vote
and its distribution, and says the steps that remain before it can move on — each with who
may do it (user names), in words, and the ``atr`` command that does it. Steps that only
wait for time or the workers (checks running, a vote open) say so with
``waiting_for_person=False``. :func:`waiting_for` gathers, across the projects a user
belongs to, the steps that user can do now (``GET /api/v1/waiting``, the desktop's list).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.checks.gate import latest_revision
from agent.checks.report import load_revision_checks
from agent.db import models
from agent.distribute.status import latest_distribution
from agent.store import Principal, release_row
from agent.triggers.common import is_system_actor, release_manager_of
from agent.triggers.compose import unsigned_artifacts
from shared.lifecycle import Phase
from shared.protocol import Role
from shared.protocol.triggers import NextStep, ReleaseNext, WaitingItem

__all__ = ["release_next", "waiting_for"]

_DONE = frozenset({Phase.ANNOUNCED, Phase.ARCHIVED})


def _pmc(session: Session, release: models.Release) -> list[str]:
    rows = session.scalars(
        select(models.User.name)
        .join(models.Membership, models.Membership.user_id == models.User.id)
        .where(
            models.Membership.committee_id == release.project.committee_id,
            models.Membership.role == Role.PMC.value,
        )
        .order_by(models.User.name)
    )
    return [name for name in rows if not is_system_actor(name)]


def _managers(session: Session, release: models.Release) -> tuple[list[str], str]:
    """Who may act as the release's manager: the RM and the PMC; and how to say it."""
    rm = release_manager_of(session, release)
    pmc = _pmc(session, release)
    if rm is None:
        return pmc, "a PMC member (no release manager is named)"
    return [rm, *[n for n in pmc if n != rm]], f"the release manager ({rm}) or a PMC member"


def _compose(session: Session, release: models.Release, name: str) -> list[NextStep]:
    rm = release_manager_of(session, release)
    who, role = ([rm], f"the release manager ({rm})") if rm else _managers(session, release)
    revision = latest_revision(session, release)
    if revision is None:
        return [
            NextStep(
                kind="upload",
                title="Upload the release's files",
                who=who,
                role=role,
                command=f"atr upload {name} FILES…",
            )
        ]
    unsigned = unsigned_artifacts([f.path for f in revision.files])
    if unsigned:
        return [
            NextStep(
                kind="sign",
                title=f"Sign {len(unsigned)} artifact(s) on your own machine",
                detail="Revision "
                f"{revision.number}: {', '.join(unsigned)}. The agent never signs for a person: "
                "download them, check them, sign them with your key and upload the .asc files.",
                who=who,
                role=role,
                command=f"atr download {name} PATH; gpg --armor --detach-sign PATH; "
                f"atr upload {name} PATH.asc",
                args={"revision": str(revision.number), "files": ",".join(unsigned)},
            )
        ]
    return [
        NextStep(
            kind="start_checks",
            title="Ask for the checks",
            detail=f"Revision {revision.number} is complete.",
            who=who,
            role=role,
            command=f"atr release transition {name} checks",
        )
    ]


def _checks(session: Session, release: models.Release, name: str) -> list[NextStep]:
    revision = latest_revision(session, release)
    checks = load_revision_checks(session, revision) if revision is not None else None
    if checks is not None and checks.state == "done" and checks.blockers:
        who, role = _managers(session, release)
        return [
            NextStep(
                kind="fix_checks",
                title=f"Fix {checks.blockers} blocker(s)",
                detail="Move back to compose, fix the files in a new revision.",
                who=who,
                role=role,
                command=f"atr checks {name}; atr release transition {name} compose",
            )
        ]
    done = len(checks.runs) - checks.unfinished if checks is not None else 0
    total = len(checks.runs) if checks is not None else 0
    return [
        NextStep(
            kind="wait_checks",
            title="The checks are running",
            detail=f"{done} of {total} runs finished",
            waiting_for_person=False,
            command=f"atr checks {name}",
        )
    ]


def _vote(session: Session, release: models.Release, name: str) -> list[NextStep]:
    vote = session.scalars(
        select(models.Vote)
        .where(models.Vote.release_id == release.id)
        .order_by(models.Vote.id.desc())
        .limit(1)
    ).first()
    if vote is None or vote.state != "open":
        return []
    voted = {b.voter for b in vote.ballots if not b.superseded}
    pending = [n for n in _pmc(session, release) if n not in voted]
    steps = []
    if pending:
        steps.append(
            NextStep(
                kind="cast_ballot",
                title="Review the candidate and vote",
                detail=f"{len(voted)} ballot(s) so far",
                who=pending,
                role="PMC members who have not voted",
                command=f"atr vote ballot {name} +1|0|-1",
            )
        )
    steps.append(
        NextStep(
            kind="wait_vote",
            title="The vote is open",
            detail=f"ends {vote.ends_at:%Y-%m-%d %H:%M} UTC at the earliest",
            waiting_for_person=False,
            command=f"atr vote status {name}",
        )
    )
    return steps


def _distribution(session: Session, release: models.Release, name: str) -> list[NextStep]:
    who, role = _managers(session, release)
    row = latest_distribution(session, release, "production")
    if row is None:
        return [
            NextStep(
                kind="approve_plan",
                title="Sign and approve the distribution plan",
                who=who,
                role=role,
                command=f"atr distribute plan {name} > plan.txt; "
                f"gpg --clearsign plan.txt; atr distribute approve {name} plan.txt.asc",
            )
        ]
    if row.state == "approved":
        return [
            NextStep(
                kind="start_distribution",
                title="Start the distribution",
                who=who,
                role=role,
                command=f"atr distribute start {name} --watch",
            )
        ]
    steps: list[NextStep] = []
    failed = sorted({s.channel for s in row.steps if s.state == "failed"})
    steps += [
        NextStep(
            kind="retry_channel",
            title=f"Channel {c} failed: fix it and retry",
            who=who,
            role=role,
            command=f"atr distribute retry {name} {c}",
            args={"channel": c},
        )
        for c in failed
    ]
    manual = [s for s in row.steps if s.kind == "manual" and s.state != "done"]
    steps += [
        NextStep(
            kind="manual_step",
            title=s.path,
            detail="a manual step of the project",
            who=who,
            role=role,
            command=f"atr distribute done {name} {s.position}",
            args={"number": str(s.position)},
        )
        for s in manual
    ]
    if row.state == "running":
        steps.append(
            NextStep(
                kind="wait_distribution",
                title="The files are being published",
                waiting_for_person=False,
                command=f"atr distribute status {name}",
            )
        )
    if row.state == "verified" and not manual and row.announced_at is None:
        steps.append(
            NextStep(
                kind="announce",
                title="Send the announcement",
                who=who,
                role=role,
                command=f"atr release announce {name}",
            )
        )
    return steps


def release_next(session: Session, project: str, version: str) -> ReleaseNext:
    """The steps that remain for ``project`` ``version``."""
    release = release_row(session, project, version)
    phase = Phase(release.phase)
    name = f"{project} {version}"
    steps: list[NextStep]
    match phase:
        case Phase.COMPOSE:
            steps = _compose(session, release, name)
        case Phase.CHECKS:
            steps = _checks(session, release, name)
        case Phase.CANDIDATE | Phase.STAGED:
            who, role = _managers(session, release)
            steps = [
                NextStep(
                    kind="start_vote",
                    title="Start the vote",
                    who=who,
                    role=role,
                    command=f"atr vote start {name}",
                )
            ]
        case Phase.VOTE:
            steps = _vote(session, release, name)
        case Phase.PASSED | Phase.DISTRIBUTE:
            steps = _distribution(session, release, name)
        case Phase.FAILED:
            who, role = _managers(session, release)
            steps = [
                NextStep(
                    kind="fix_failure",
                    title="Start a new round",
                    detail="Move it back to compose and upload fixed files.",
                    who=who,
                    role=role,
                    command=f"atr release transition {name} compose",
                )
            ]
        case Phase.ANNOUNCED | Phase.ARCHIVED:
            steps = []
    return ReleaseNext(
        project=project,
        version=version,
        phase=phase,
        release_manager=release_manager_of(session, release) or "",
        steps=steps,
    )


def waiting_for(session: Session, principal: Principal) -> list[WaitingItem]:
    """The steps ``principal`` can do now, in every release in progress they may see."""
    query = select(models.Release).where(models.Release.phase.not_in([p.value for p in _DONE]))
    if principal.token_project is not None:
        query = query.join(models.Project).where(models.Project.key == principal.token_project)
    items: list[WaitingItem] = []
    for release in session.scalars(query.order_by(models.Release.updated_at)):
        if release.project.committee.name not in principal.memberships and not principal.is_admin:
            continue
        found = release_next(session, release.project.key, release.version)
        for step in found.steps:
            if step.waiting_for_person and principal.name in step.who:
                items.append(
                    WaitingItem(
                        project=found.project,
                        version=found.version,
                        phase=found.phase,
                        step=step,
                        since=release.updated_at or datetime.now(UTC),
                    )
                )
    return items
