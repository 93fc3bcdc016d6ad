"""Running one check the way the runner does, for the tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from shared.checks.base import CheckInputs, CheckResult, Recorder, Status
from shared.checks.policy import Policy


def inputs_for(
    folder: Path, *, keys: Sequence[str] = (), policy: Policy | None = None
) -> CheckInputs:
    """Inputs over every file directly in ``folder`` (and below)."""
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    return CheckInputs("foo", "1.0", files, tuple(keys), policy or Policy())


def run(module: ModuleType, inputs: CheckInputs, artifact: str | None = None) -> list[CheckResult]:
    recorder = Recorder(module.CHECK_ID)
    module.run(inputs, recorder, artifact=artifact)
    return recorder.results


def statuses(results: Sequence[CheckResult]) -> list[Status]:
    return [r.status for r in results]


def blockers(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status is Status.BLOCKER]
