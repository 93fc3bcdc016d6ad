"""The phase cascade: every phase change and every new revision, with what follows from them.

:mod:`agent.store` writes a phase or a revision and checks only the lifecycle table and
the roles. This module is the one place that adds what other resources require and
cause, so that none of them imports another::

    guards before a phase change            consequences after it
    ─────────────────────────────────       ──────────────────────────────────────────
    candidate/staged/vote: the checks gate  → checks: move on to candidate if clear
    vote: only with an open vote            new revision: queue its checks; if a workflow
                                              run uploaded it (trusted publishing), record
                                              its build and ask the RM to sign
                                            failed: take its staged candidate off the
                                              channels (a Nexus staging repository is dropped)
    passed: only when its vote passed       passed: queue the release's attestations
    distribute: only with an approved,
      started production distribution
    announced: only by the announcement     a production distribution verified
    staged: only when a staging finished      (:func:`distribution_verified`): queue its
                                              attestation

It depends on :mod:`agent.store`, :mod:`agent.checks.gate` and :mod:`agent.checks.service`;
the votes and distribution services call it. Callers own the transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.checks import gate
from agent.checks import service as checks
from agent.db import models
from agent.engine import queue
from agent.store import CommitterWriter, Conflict, Store, release_row, revision_row
from agent.triggers import builds
from shared import protocol as p
from shared.lifecycle import Phase, check_transition

__all__ = ["create_revision", "distribution_verified", "transition", "transition_as"]


def transition_as(writer: CommitterWriter, version: str, body: p.TransitionRequest) -> p.Release:
    """Move ``version`` of the writer's project to ``body.to``: the lifecycle table, the
    guards of the module docstring, the writer's role, then the consequences."""
    session = writer.session
    release = release_row(session, writer.project.key, version, lock=True)
    check_transition(Phase(release.phase), body.to)  # the clearest refusal comes first
    _guard(session, release, body.to)
    out = writer.transition(version, body)
    if body.to is Phase.CHECKS:
        gate.advance_if_clear(session, release)
    elif body.to is Phase.FAILED:
        _discard_staging(session, release, actor=writer.principal.name)
    elif body.to is Phase.PASSED:
        _queue_attestation(session, release, {"release": release.id, "trigger": "vote"})
    return out


def distribution_verified(session: Session, distribution: models.Distribution) -> None:
    """A production distribution was verified: queue the attestation of where it went."""
    release = session.get(models.Release, distribution.release_id)
    if release is not None and distribution.kind == "production":
        _queue_attestation(
            session,
            release,
            {"release": release.id, "trigger": "distribution", "distribution": distribution.id},
        )


def _queue_attestation(session: Session, release: models.Release, args: dict[str, object]) -> None:
    """The ``attest`` task (agent.provenance.attest) of ``release``, in the caller's transaction."""
    queue.enqueue(
        session,
        p.TaskType.ATTEST,
        project=release.project.key,
        version=release.version,
        revision=None,
        args=args,
        created_by="atr-agent",
        max_attempts=5,
        timeout_seconds=1800,
    )


def transition(store: Store, project: str, version: str, body: p.TransitionRequest) -> p.Release:
    """:func:`transition_as` with the lowest tier of ``store`` allowed to make the change."""
    return transition_as(store.for_transition(project, version, body.to), version, body)


def create_revision(store: Store, project: str, version: str, body: p.RevisionCreate) -> p.Revision:
    """A new revision (committer of ``project``), with its checks queued."""
    out = store.as_committer(project).create_revision(version, body)
    release = release_row(store.session, project, version)
    row = revision_row(store.session, release, out.number)
    checks.queue_for_revision(store.session, row, actor=store.principal.name)
    # a workflow run's upload (trusted publishing): its build facts, and the RM asked to sign
    builds.record_from_token(store.session, store.principal, row)
    return out


# --- consequences ---------------------------------------------------------------------------


def _discard_staging(session: Session, release: models.Release, *, actor: str) -> None:
    """Queue a ``discard`` task per channel the release's latest staging reached."""
    staging = session.scalars(
        select(models.Distribution)
        .where(models.Distribution.release_id == release.id, models.Distribution.kind == "staging")
        .order_by(models.Distribution.id.desc())
        .limit(1)
    ).first()
    if staging is None:
        return
    channels = sorted({s.channel for s in staging.steps if s.url and s.kind != "manual"})
    for channel in channels:
        queue.enqueue(
            session,
            p.TaskType.DISTRIBUTE,
            project=release.project.key,
            version=release.version,
            revision=None,
            args={"distribution": staging.id, "channel": channel, "discard": True},
            created_by=actor,
            max_attempts=5,
        )


# --- guards ---------------------------------------------------------------------------------


def _guard(session: Session, release: models.Release, target: Phase) -> None:
    gate.gate_transition(session, release, target)
    current = Phase(release.phase)
    if target is Phase.VOTE:
        _require_vote(session, release, state="open")
    elif (current, target) == (Phase.VOTE, Phase.PASSED):
        _require_vote(session, release, state="passed")
    elif target is Phase.DISTRIBUTE:
        _require_distribution(session, release, kind="production", states=("running",))
    elif target is Phase.ANNOUNCED:
        _require_distribution(session, release, kind="production", states=("verified",))
    elif target is Phase.STAGED:
        _require_distribution(session, release, kind="staging", states=("done", "verified"))


def _require_vote(session: Session, release: models.Release, *, state: str) -> None:
    """Only the vote service moves a release into ``vote`` (with an ``open`` vote, so the
    [VOTE] mail goes out) and on to ``passed`` (once that vote ``passed``): nobody skips it."""
    latest = session.scalars(
        select(models.Vote)
        .where(models.Vote.release_id == release.id)
        .order_by(models.Vote.id.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.state == state:
        return
    name = f"{release.project.key} {release.version}"
    if state == "open":
        raise Conflict(
            f"release {name} enters 'vote' only by starting a vote",
            hint=f"start it with 'atr vote start {name}' (POST .../vote): it mails the dev list",
        )
    found = "no vote" if latest is None else f"its vote is {latest.state}"
    raise Conflict(
        f"release {name} cannot be moved to 'passed' by hand ({found}): the vote decides",
        hint=f"the agent moves the release on when the vote passes (atr vote status {name}); "
        "to stop the vote, move it to 'failed'",
    )


def _require_distribution(
    session: Session, release: models.Release, *, kind: str, states: tuple[str, ...]
) -> None:
    """``distribute``, ``announced`` and ``staged`` are reached only through the distribution
    service: a signed, approved plan being published; the announcement; a finished staging."""
    latest = session.scalars(
        select(models.Distribution)
        .where(models.Distribution.release_id == release.id, models.Distribution.kind == kind)
        .order_by(models.Distribution.id.desc())
        .limit(1)
    ).first()
    announcing = states == ("verified",) and kind == "production"
    if (
        latest is not None
        and latest.state in states
        and (not announcing or latest.announced_at is not None)
    ):
        return
    name = f"{release.project.key} {release.version}"
    how = {
        "production": f"approve the signed plan and start it: atr distribute start {name}",
        "staging": f"stage the candidate: atr distribute stage {name}",
    }[kind]
    if announcing:
        how = f"announce it once its distribution is verified: atr release announce {name}"
    raise Conflict(
        f"release {name} cannot be moved there by hand: the distribution does it", hint=how
    )
