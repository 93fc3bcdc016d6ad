"""The check report of a revision: its runs, their results with the project's ignore rules applied.

Ignore rules are applied when results are read, with the project's *current*
policy, so adding a rule takes effect at once without rerunning anything. The
rule logic is that of :func:`shared.checks.runner.apply_ignores`: a passing
result or a "could not run" blocker is never ignored, nor a blocker of
:data:`~shared.checks.policy.UNIGNORABLE_CHECKS`; otherwise the first matching
rule turns the result into a ``note`` and says why in ``ignored``.

A run whose task ended ``failed`` or ``cancelled`` before the run was finished
(its worker died on the last attempt, its timeout passed) is reported as an
``error`` run with a "could not run" blocker, so a lost task never leaves the
checks pending for ever. A run is **stale** when the hash of its inputs as
they are now (policy, keys, check version) differs from the hash it ran with;
planned runs that do not exist at all (a check added since) count as stale too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.checks.inputs import hash_basis, plan_runs, run_hashes
from agent.db import models
from shared.checks.base import Status
from shared.checks.policy import UNIGNORABLE_CHECKS, Policy
from shared.protocol import TaskState
from shared.protocol.checks import (
    CheckReport,
    CheckResultOut,
    CheckRunOut,
    CheckStatus,
    IgnoredBy,
    RunState,
)

__all__ = [
    "RevisionChecks",
    "apply_rules",
    "empty_summary",
    "load_revision_checks",
    "run_summary",
]


@functools.cache
def _order() -> dict[str, int]:
    """Registry position of each check id (the registry is imported on first use: an idle
    agent does not hold the checks and their libraries)."""
    from shared.checks.registry import CHECKS  # noqa: PLC0415

    return {check.CHECK_ID: index for index, check in enumerate(CHECKS)}


_ENDED_TASK_STATES = frozenset({TaskState.FAILED.value, TaskState.CANCELLED.value})
FINISHED_STATES = frozenset({"done", "error"})


def empty_summary() -> dict[CheckStatus, int]:
    """Every status with a count of 0, worst first."""
    return {"blocker": 0, "warning": 0, "note": 0, "pass": 0}


def apply_rules(
    check: str, path: str, status: str, data: Mapping[str, Any], policy: Policy, *, by: str | None
) -> IgnoredBy | None:
    """The ignore rule of ``policy`` that applies to this result, if any (see the module doc)."""
    if status == Status.PASS.value or data.get("could_not_run"):
        return None
    if status == Status.BLOCKER.value and check in UNIGNORABLE_CHECKS:
        return None
    for index, rule in enumerate(policy.ignores):
        if rule.matches(check, path, status):
            return IgnoredBy(
                rule=index, reason=rule.reason, original_status=cast(CheckStatus, status), by=by
            )
    return None


def run_summary(statuses: Sequence[str]) -> dict[CheckStatus, int]:
    """Counts per status."""
    counts = empty_summary()
    for status in statuses:
        counts[cast(CheckStatus, status)] += 1
    return counts


@dataclass
class _Run:
    row: models.CheckRun
    state: RunState
    error: str | None
    stale: bool
    results: list[CheckResultOut] = field(default_factory=list)


@dataclass
class RevisionChecks:
    """The runs of one revision as they stand, ready to be told as a :class:`CheckReport`."""

    project: str
    version: str
    revision: int
    runs: list[_Run]
    missing: int
    """Planned runs that do not exist (never queued, or a check added since)."""

    @property
    def stale(self) -> int:
        """Runs whose inputs changed since they ran, plus the missing ones."""
        return self.missing + sum(1 for r in self.runs if r.stale)

    @property
    def unfinished(self) -> int:
        return sum(1 for r in self.runs if r.state not in FINISHED_STATES)

    @property
    def state(self) -> str:
        if self.runs and self.unfinished == 0 and self.missing == 0:
            return "done"
        if any(r.state != "queued" for r in self.runs):
            return "running"
        return "pending"

    @property
    def results(self) -> list[CheckResultOut]:
        return [result for run in self.runs for result in run.results]

    @property
    def summary(self) -> dict[CheckStatus, int]:
        return run_summary([r.status for r in self.results])

    @property
    def ignored(self) -> int:
        return sum(1 for r in self.results if r.ignored is not None)

    @property
    def blockers(self) -> int:
        return self.summary["blocker"]

    def to_wire(self) -> CheckReport:
        """The :class:`CheckReport`."""
        return CheckReport(
            project=self.project,
            version=self.version,
            revision=self.revision,
            state=cast(Any, self.state),
            runs=[
                CheckRunOut(
                    check=r.row.check_id,
                    check_version=r.row.check_version,
                    artifact=r.row.artifact,
                    state=r.state,
                    task_id=r.row.task_id,
                    reused=r.row.reused_from is not None,
                    error=r.error,
                    summary=run_summary([x.status for x in r.results]),
                    stale=r.stale,
                )
                for r in self.runs
            ],
            results=self.results,
            summary=self.summary,
            ignored=self.ignored,
            blocked=self.blockers > 0,
            stale=self.stale,
        )


def _could_not_run(row: models.CheckRun, error: str) -> CheckResultOut:
    where = f" on {row.artifact}" if row.artifact else ""
    return CheckResultOut(
        check=row.check_id,
        check_version=row.check_version,
        artifact=row.artifact,
        path=row.artifact,
        status="blocker",
        message=f"the {row.check_id} check could not run{where}: {error}",
        data={"could_not_run": True},
    )


def _task_states(session: Session, rows: Sequence[models.CheckRun]) -> dict[int, tuple[str, str]]:
    ids = [r.task_id for r in rows if r.task_id is not None and r.state not in FINISHED_STATES]
    if not ids:
        return {}
    found = session.execute(
        select(models.Task.id, models.Task.state, models.Task.error).where(models.Task.id.in_(ids))
    )
    return {task_id: (state, error or "") for task_id, state, error in found}


def load_revision_checks(
    session: Session, revision: models.Revision, *, with_results: bool = True
) -> RevisionChecks:
    """The runs (and, unless ``with_results`` is false, the results) of ``revision``."""
    release = revision.release
    project = release.project
    basis = hash_basis(session, revision)
    policy = basis.policy
    planned = plan_runs(basis.files)
    expected = run_hashes(basis, planned)
    rows = sorted(
        session.scalars(select(models.CheckRun).where(models.CheckRun.revision_id == revision.id)),
        key=lambda r: (_order().get(r.check_id, len(_order())), r.artifact),
    )
    tasks = _task_states(session, rows)
    results_by_run: dict[int, list[models.CheckResultRow]] = {}
    if with_results and rows:
        for result in session.scalars(
            select(models.CheckResultRow)
            .where(models.CheckResultRow.run_id.in_([r.id for r in rows]))
            .order_by(models.CheckResultRow.id)
        ):
            results_by_run.setdefault(result.run_id, []).append(result)
    runs: list[_Run] = []
    for row in rows:
        state = cast(RunState, row.state)
        error = row.error
        if state not in FINISHED_STATES and row.task_id in tasks:
            task_state, task_error = tasks[row.task_id]
            if task_state in _ENDED_TASK_STATES:
                state = "error"
                error = f"its task {row.task_id} ended '{task_state}': {task_error}".rstrip(": ")
        run = _Run(
            row=row,
            state=state,
            error=error,
            stale=expected.get((row.check_id, row.artifact)) != row.input_hash,
        )
        if state == "error" and row.state not in FINISHED_STATES:
            run.results.append(_could_not_run(row, error or "its task ended"))
        for result in results_by_run.get(row.id, []):
            ignored = apply_rules(
                row.check_id,
                result.path,
                result.status,
                result.data or {},
                policy,
                by=project.policy_updated_by,
            )
            run.results.append(
                CheckResultOut(
                    check=row.check_id,
                    check_version=row.check_version,
                    artifact=row.artifact,
                    path=result.path,
                    status="note" if ignored is not None else cast(CheckStatus, result.status),
                    message=result.message,
                    data=result.data or {},
                    ignored=ignored,
                )
            )
        runs.append(run)
    existing = {(r.check_id, r.artifact) for r in rows}
    return RevisionChecks(
        project=project.key,
        version=release.version,
        revision=revision.number,
        runs=runs,
        missing=sum(1 for p in planned if p.key not in existing),
    )
