"""Check runs in the database: queued for a revision, reused from the cache, begun and finished.

The life of a run (one row of ``check_runs``)::

    queue_for_revision / rerun ──► queued (a 'check' task) ──► running ──► done | error
                               └─► done at once, results copied from a finished run with the
                                   same input hash (reused_from names it; no task)

The API process calls :func:`queue_for_revision` (through ``create_revision``)
and :func:`rerun`; the ``check`` task handler calls :func:`begin_run` and
:func:`finish_run` in a worker process. A run belongs to the task named by its
``task_id``: when a rerun gives it a new task, the old task's results are
dropped. When the last run of a revision finishes, ``checks.done`` is recorded
and, if the release waits in phase ``checks``, :func:`agent.checks.gate.advance_if_clear`
may move it on to ``candidate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from agent.checks.gate import advance_if_clear
from agent.checks.inputs import (
    HashBasis,
    PlannedRun,
    hash_basis,
    input_files,
    plan_runs,
    run_hashes,
)
from agent.checks.report import FINISHED_STATES, load_revision_checks, run_summary
from agent.db import models
from agent.db.models import utcnow
from agent.db.session import transaction
from agent.engine import queue
from agent.engine.events import append_event
from agent.store import Store, add_blob_row, release_revision
from shared.checks.base import CheckResult, Status
from shared.checks.policy import Policy
from shared.errors import AtrError
from shared.protocol import EventKind, TaskType

SBOM_CHECK = "sbom"
"""The id of the check that makes the SBOM a revision stores (``shared.checks.sbom``)."""

__all__ = [
    "CHECK_TASK_ATTEMPTS",
    "CHECK_TASK_TIMEOUT",
    "QueueSummary",
    "RunGone",
    "RunJob",
    "StoredSbom",
    "begin_run",
    "finish_run",
    "queue_for_revision",
    "report_path",
    "rerun",
    "rerun_checks",
    "rerun_for_project",
]

CHECK_TASK_TIMEOUT = 1800
"""Seconds a check task may run (the archive limits keep real checks far below)."""
CHECK_TASK_ATTEMPTS = 2
"""A check that fails for a reason outside the check (database, lost worker) is tried twice."""

MAX_RESULT_PATH = 2048
"""The length of ``check_results.path``."""

AGENT_ACTOR = "atr-agent"


class RunGone(AtrError):
    """The check run a task names does not exist (the task was not queued by the agent)."""


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """What queueing the runs of a revision did."""

    runs: int
    queued: int
    reused: int


@dataclass(frozen=True, slots=True)
class RunJob:
    """Everything a worker needs to run one check run, detached from any session."""

    run_id: int
    revision_id: int
    revision: int
    project: str
    version: str
    check_id: str
    artifact: str
    input_hash: str
    files: dict[str, str]
    """release path → blob SHA-256, the run's input files only"""
    keys: tuple[str, ...]
    policy: Policy


@dataclass(frozen=True, slots=True)
class StoredSbom:
    """An SBOM the worker put in the blob store, to record with the revision."""

    artifact: str
    sha256: str
    sha512: str
    size: int


# --- queueing ------------------------------------------------------------------------------------


def _enqueue(
    session: Session, run: models.CheckRun, basis: HashBasis, revision: int, actor: str | None
) -> None:
    task = queue.enqueue(
        session,
        TaskType.CHECK,
        project=basis.project,
        version=basis.version,
        revision=revision,
        args={"check_id": run.check_id, "artifact": run.artifact},
        created_by=actor,
        max_attempts=CHECK_TASK_ATTEMPTS,
        timeout_seconds=CHECK_TASK_TIMEOUT,
    )
    run.task_id = task.id


def _reuse(session: Session, run: models.CheckRun) -> bool:
    """Copy the results of a finished run with the same input hash into ``run``."""
    source = session.scalars(
        select(models.CheckRun)
        .where(
            models.CheckRun.input_hash == run.input_hash,
            models.CheckRun.state == "done",
            models.CheckRun.id != run.id,
        )
        .order_by(models.CheckRun.id.desc())
        .limit(1)
    ).first()
    if source is None:
        return False
    rows = session.execute(
        select(
            models.CheckResultRow.path,
            models.CheckResultRow.status,
            models.CheckResultRow.message,
            models.CheckResultRow.data,
        )
        .where(models.CheckResultRow.run_id == source.id)
        .order_by(models.CheckResultRow.id)
    ).all()
    session.add_all(
        models.CheckResultRow(run_id=run.id, path=path, status=status, message=message, data=data)
        for path, status, message, data in rows
    )
    run.state = "done"
    run.error = None
    run.task_id = None
    run.reused_from = source.reused_from or source.id
    run.finished_at = utcnow()
    if run.check_id == SBOM_CHECK:
        sbom = session.get(models.RevisionSbom, (source.revision_id, run.artifact))
        if sbom is not None and source.revision_id != run.revision_id:
            _put_revision_sbom(session, run.revision_id, run.artifact, sbom.blob_sha256)
    session.flush()
    return True


def _new_run(
    session: Session, revision: models.Revision, planned: PlannedRun, digest: str
) -> models.CheckRun:
    run = models.CheckRun(
        revision_id=revision.id,
        check_id=planned.check_id,
        check_version=planned.check.CHECK_VERSION,
        artifact=planned.artifact,
        input_hash=digest,
        state="queued",
    )
    session.add(run)
    session.flush()
    return run


def queue_for_revision(
    session: Session, revision: models.Revision, *, actor: str | None
) -> QueueSummary:
    """Plan the runs of a new revision: reuse what is cached, queue a task for the rest.

    Records ``checks.queued``; if every run was reused, ``checks.done`` at once.
    """
    basis = hash_basis(session, revision)
    planned = plan_runs(basis.files)
    hashes = run_hashes(basis, planned)
    queued = reused = 0
    for item in planned:
        run = _new_run(session, revision, item, hashes[item.key])
        if _reuse(session, run):
            reused += 1
        else:
            _enqueue(session, run, basis, revision.number, actor)
            queued += 1
    summary = QueueSummary(runs=len(planned), queued=queued, reused=reused)
    _queued_event(session, revision, summary, actor=actor, rerun=False)
    if queued == 0:
        _revision_done(session, revision)
    return summary


def _queued_event(
    session: Session,
    revision: models.Revision,
    summary: QueueSummary,
    *,
    actor: str | None,
    rerun: bool,
) -> None:
    append_event(
        session,
        EventKind.CHECKS_QUEUED,
        actor=actor,
        project=revision.release.project.key,
        version=revision.release.version,
        data={
            "revision": revision.number,
            "runs": summary.runs,
            "queued": summary.queued,
            "reused": summary.reused,
            "rerun": rerun,
        },
    )


def _reset(session: Session, run: models.CheckRun, digest: str) -> None:
    session.execute(delete(models.CheckResultRow).where(models.CheckResultRow.run_id == run.id))
    session.expire(run, ["results"])
    run.input_hash = digest
    run.check_version = _version_of(run.check_id, run.check_version)
    run.state = "queued"
    run.error = None
    run.reused_from = None
    run.finished_at = None
    run.task_id = None
    session.flush()


def _version_of(check_id: str, fallback: int) -> int:
    try:
        from shared.checks.registry import by_id  # noqa: PLC0415 - imported on first use

        return by_id(check_id).CHECK_VERSION
    except KeyError:
        return fallback


def rerun(
    session: Session, revision: models.Revision, *, actor: str | None, everything: bool = False
) -> QueueSummary:
    """Redo the runs of ``revision`` whose inputs changed, that could not run, or are missing.

    With ``everything``, every run is redone and nothing is reused from the cache.
    Runs of checks no longer registered are removed.
    """
    current = load_revision_checks(session, revision, with_results=False)
    basis = hash_basis(session, revision)
    planned = plan_runs(basis.files)
    hashes = run_hashes(basis, planned)
    by_key = {(r.row.check_id, r.row.artifact): r for r in current.runs}
    wanted = {p.key for p in planned}
    for key, gone in by_key.items():
        if key not in wanted:
            session.execute(
                delete(models.CheckResultRow).where(models.CheckResultRow.run_id == gone.row.id)
            )
            session.delete(gone.row)
    queued = reused = redone = 0
    for item in planned:
        existing = by_key.get(item.key)
        digest = hashes[item.key]
        if existing is None:
            run = _new_run(session, revision, item, digest)
        elif everything or existing.stale or existing.state == "error":
            run = existing.row
            _reset(session, run, digest)
        else:
            continue
        redone += 1
        if not everything and _reuse(session, run):
            reused += 1
        else:
            _enqueue(session, run, basis, revision.number, actor)
            queued += 1
    summary = QueueSummary(runs=redone, queued=queued, reused=reused)
    if redone:
        _queued_event(session, revision, summary, actor=actor, rerun=True)
        if queued == 0 and _unfinished(session, revision.id) == 0:
            _revision_done(session, revision)
    return summary


# --- in the worker -------------------------------------------------------------------------------


def begin_run(
    factory: sessionmaker[Session],
    *,
    task_id: int,
    project: str,
    version: str,
    revision: int,
    check_id: str,
    artifact: str,
) -> RunJob | None:
    """Mark the run ``running`` and return what it reads; ``None`` if the run is no longer
    this task's (a rerun replaced it) or is finished already (a retried task).

    Raises :class:`RunGone` if no such run exists.
    """
    with transaction(factory) as session:
        row = session.execute(
            select(models.CheckRun, models.Revision)
            .join(models.Revision, models.CheckRun.revision_id == models.Revision.id)
            .join(models.Release, models.Revision.release_id == models.Release.id)
            .join(models.Project, models.Release.project_id == models.Project.id)
            .where(
                models.Project.key == project,
                models.Release.version == version,
                models.Revision.number == revision,
                models.CheckRun.check_id == check_id,
                models.CheckRun.artifact == artifact,
            )
        ).first()
        if row is None:
            raise RunGone(
                f"revision {revision} of {project} {version} has no '{check_id}' run"
                + (f" for {artifact}" if artifact else ""),
                hint="check tasks are queued by the agent when a revision is created",
            )
        run, rev = row
        if run.task_id != task_id or run.state in FINISHED_STATES:
            return None
        basis = hash_basis(session, rev)
        planned = next(
            (p for p in plan_runs(basis.files) if p.key == (check_id, artifact)),
            None,
        )
        if planned is None:
            raise RunGone(f"'{check_id}' no longer applies to revision {revision}")
        # The run reads the inputs as they are now, with this agent's check: its hash says so.
        run.input_hash = run_hashes(basis, [planned])[planned.key]
        run.check_version = planned.check.CHECK_VERSION
        run.state = "running"
        return RunJob(
            run_id=run.id,
            revision_id=rev.id,
            revision=revision,
            project=project,
            version=version,
            check_id=check_id,
            artifact=artifact,
            input_hash=run.input_hash,
            files={p: basis.files[p] for p in input_files(planned, basis.files)},
            keys=basis.keys,
            policy=basis.policy,
        )


def _put_revision_sbom(session: Session, revision_id: int, artifact: str, sha256: str) -> None:
    row = session.get(models.RevisionSbom, (revision_id, artifact))
    if row is None:
        session.add(
            models.RevisionSbom(revision_id=revision_id, artifact=artifact, blob_sha256=sha256)
        )
    else:
        row.blob_sha256 = sha256
        row.created_at = utcnow()
    session.flush()


def _record_sbom(session: Session, job: RunJob, sbom: StoredSbom) -> None:
    add_blob_row(session, sha256=sbom.sha256, sha512=sbom.sha512, size=sbom.size)
    _put_revision_sbom(session, job.revision_id, sbom.artifact, sbom.sha256)
    append_event(
        session,
        EventKind.SBOM_STORED,
        actor=AGENT_ACTOR,
        project=job.project,
        version=job.version,
        data={
            "revision": job.revision,
            "artifact": sbom.artifact,
            "sha256": sbom.sha256,
            "size": sbom.size,
        },
    )


def _fit(path: str) -> str:
    """A result path that fits its column (paths inside hostile archives can be very long)."""
    return path if len(path) <= MAX_RESULT_PATH else path[: MAX_RESULT_PATH - 1] + "…"


def _lock_revision(session: Session, revision_id: int) -> models.Revision:
    query = select(models.Revision).where(models.Revision.id == revision_id)
    if session.get_bind().dialect.name == "postgresql":
        # Finishers of one revision take turns, so exactly one of them sees the last run end.
        query = query.with_for_update()
    revision = session.scalars(query).one()
    return revision


def report_path(project: str, version: str, revision: int) -> str:
    """The API path of a revision's check report (what ``check.finished`` refers to)."""
    return f"/api/v1/projects/{project}/releases/{version}/revisions/{revision}/checks"


def finish_run(
    factory: sessionmaker[Session],
    job: RunJob,
    *,
    task_id: int,
    results: Sequence[CheckResult],
    error: str | None,
    sbom: StoredSbom | None = None,
) -> bool:
    """Store the results of ``job`` and record ``check.finished`` (and ``checks.done`` when it
    was the revision's last run). ``False`` if the run is no longer this task's."""
    with transaction(factory) as session:
        revision = _lock_revision(session, job.revision_id)
        run = session.get(models.CheckRun, job.run_id)
        if run is None or run.task_id != task_id or run.state in FINISHED_STATES:
            return False
        session.execute(delete(models.CheckResultRow).where(models.CheckResultRow.run_id == run.id))
        session.add_all(
            models.CheckResultRow(
                run_id=run.id,
                path=_fit(r.path),
                status=r.status.value,
                message=r.message,
                data=dict(r.data),
            )
            for r in results
        )
        run.state = "error" if error else "done"
        run.error = error
        run.finished_at = utcnow()
        if sbom is not None:
            _record_sbom(session, job, sbom)
        summary = run_summary([r.status.value for r in results])
        worst = min((r.status for r in results), key=lambda s: s.rank, default=Status.PASS)
        append_event(
            session,
            EventKind.CHECK_FINISHED,
            actor=AGENT_ACTOR,
            project=job.project,
            version=job.version,
            task_id=task_id,
            data={
                "revision": job.revision,
                "check": job.check_id,
                "check_version": run.check_version,
                "artifact": job.artifact,
                "state": run.state,
                "error": error,
                "summary": summary,
                "worst": worst.value if results else None,
                "result_count": len(results),
                # the results themselves are in the report (events stay small: a few hundred
                # bytes, not one line per result); clients fetch it when they want details
                "report": report_path(job.project, job.version, job.revision),
            },
        )
        session.flush()
        if _unfinished(session, revision.id) == 0:
            _revision_done(session, revision)
        return True


def _unfinished(session: Session, revision_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(models.CheckRun)
            .where(
                models.CheckRun.revision_id == revision_id,
                models.CheckRun.state.not_in(tuple(FINISHED_STATES)),
            )
        )
        or 0
    )


def _revision_done(session: Session, revision: models.Revision) -> None:
    """Record ``checks.done`` with the totals; move a release waiting in ``checks`` on."""
    checks = load_revision_checks(session, revision)
    release = revision.release
    append_event(
        session,
        EventKind.CHECKS_DONE,
        actor=AGENT_ACTOR,
        project=release.project.key,
        version=release.version,
        data={
            "revision": revision.number,
            "runs": len(checks.runs),
            "errors": sum(1 for r in checks.runs if r.state == "error"),
            "reused": sum(1 for r in checks.runs if r.row.reused_from is not None),
            "summary": checks.summary,
            "ignored": checks.ignored,
            "blocked": checks.blockers > 0,
        },
    )
    advance_if_clear(session, release)


def rerun_checks(
    store: Store, project: str, version: str, number: int | None, *, everything: bool = False
) -> QueueSummary:
    """:func:`rerun` for a committer of ``project``."""
    store.as_committer(project)  # the role check
    revision = release_revision(store.session, project, version, number)
    return rerun(store.session, revision, actor=store.principal.name, everything=everything)


OPEN_PHASES = ("compose", "checks", "candidate", "staged")
"""Phases of a release whose checks still matter (before the vote)."""


def rerun_for_project(session: Session, project: models.Project, *, actor: str | None) -> int:
    """Rerun the out-of-date runs of the latest revision of each of ``project``'s releases
    before the vote (after its keys changed, say). Returns the runs redone."""
    releases = session.scalars(
        select(models.Release).where(
            models.Release.project_id == project.id, models.Release.phase.in_(OPEN_PHASES)
        )
    )
    redone = 0
    for release in list(releases):
        revision = session.scalars(
            select(models.Revision)
            .where(models.Revision.release_id == release.id)
            .order_by(models.Revision.number.desc())
            .limit(1)
        ).first()
        if revision is not None:
            redone += rerun(session, revision, actor=actor).runs
    return redone
