"""The checks gate: no candidate, staging or vote while a blocker stands; the automatic move on.

:func:`gate_transition` is called by every phase change (``agent.store``) before
the phase moves. A release may go to ``candidate``, ``staged`` or ``vote`` only
when the checks of its latest revision are all finished, none is out of date
(the policy, the keys or a check changed since it ran) and no blocker stands
after the project's ignore rules. Otherwise the change is refused with a
:class:`~agent.store.Conflict` (409) that says how many runs or blockers are in
the way and where to see them.

:func:`advance_if_clear` moves a release waiting in phase ``checks`` to
``candidate`` (actor ``atr-agent``) as soon as the gate is open: when the last
run of its latest revision finishes, or when the release enters ``checks``
with its checks already done. With a blocker it stays in ``checks``: the
release manager goes back to ``compose``, fixes the files and asks again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.checks.report import RevisionChecks, load_revision_checks
from agent.db import models
from agent.store import Conflict, Principal, Store
from shared.lifecycle import Phase
from shared.protocol import TransitionRequest

__all__ = ["GATED_PHASES", "advance_if_clear", "gate_problem", "gate_transition", "latest_revision"]

GATED_PHASES = frozenset({Phase.CANDIDATE, Phase.STAGED, Phase.VOTE})
"""Phases a release enters only through an open gate."""


def latest_revision(session: Session, release: models.Release) -> models.Revision | None:
    """The release's newest revision, if it has one."""
    return session.scalars(
        select(models.Revision)
        .where(models.Revision.release_id == release.id)
        .order_by(models.Revision.number.desc())
        .limit(1)
    ).first()


def checks_path(release: models.Release, number: int) -> str:
    """Where the report of revision ``number`` is read over REST."""
    return (
        f"/api/v1/projects/{release.project.key}/releases/{release.version}"
        f"/revisions/{number}/checks"
    )


def gate_problem(
    release: models.Release, revision: models.Revision | None, checks: RevisionChecks | None
) -> Conflict | None:
    """Why the gate is closed for ``release`` (None: it is open)."""
    cli = f"`atr checks {release.project.key} {release.version}`"
    if revision is None or checks is None:
        return Conflict(
            "it has no revision, so nothing has been checked",
            hint="upload the artifacts and create a revision first",
        )
    where = checks_path(release, revision.number)
    if checks.stale:
        return Conflict(
            f"{checks.stale} check runs of revision {revision.number} are out of date "
            "(the policy, the keys or a check changed since they ran, or they never ran)",
            hint=f"rerun them: POST {where}/rerun, or {cli} --rerun",
        )
    if checks.state != "done":
        return Conflict(
            f"the checks of revision {revision.number} are not finished "
            f"({checks.unfinished} of {len(checks.runs)} runs queued or running)",
            hint=f"wait for them to finish: GET {where}, or {cli}",
        )
    if checks.blockers:
        plural = "blocker stands" if checks.blockers == 1 else "blockers stand"
        return Conflict(
            f"{checks.blockers} {plural} in the checks of revision {revision.number}",
            hint=f"see them with GET {where}, or {cli}; fix the files in a new revision "
            "(or ignore a result in the project's policy, with a reason)",
        )
    return None


def gate_transition(session: Session, release: models.Release, target: Phase) -> None:
    """Refuse (409) a move to a gated phase while the checks do not allow it."""
    if target not in GATED_PHASES:
        return
    revision = latest_revision(session, release)
    checks = load_revision_checks(session, revision) if revision is not None else None
    problem = gate_problem(release, revision, checks)
    if problem is not None:
        raise Conflict(
            f"release {release.project.key} {release.version} cannot move to '{target}': "
            f"{problem.message}",
            hint=problem.hint,
        )


def advance_if_clear(session: Session, release: models.Release) -> bool:
    """Move ``release`` from ``checks`` to ``candidate`` if the gate is open. True if moved."""
    if release.phase != Phase.CHECKS.value:
        return False
    revision = latest_revision(session, release)
    if revision is None:
        return False
    checks = load_revision_checks(session, revision)
    if gate_problem(release, revision, checks) is not None:
        return False
    writer = Store(session, Principal.operator()).as_pmc(release.project.key)
    writer.transition(
        release.version,
        TransitionRequest(
            to=Phase.CANDIDATE,
            reason=f"all {len(checks.runs)} checks of revision {revision.number} finished "
            "without a blocker",
        ),
    )
    return True
