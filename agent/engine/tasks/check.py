"""``check``: one compliance check on one artifact (or the whole release) of a revision.

Arguments: ``{"check_id": ID, "artifact": PATH}`` (``""`` for a release-scoped
check). Such tasks are queued by :mod:`agent.checks.service` when a revision is
created or its checks are rerun; the run they serve is found by the task's
project, version and revision.

The handler materializes the run's inputs — each input file is a symbolic link,
named by its release path, to its blob in the blob store (nothing is copied; the
checks tell formats by names); the keys and the policy come from the database —
runs the one check module, and stores the results. A check that raises gives the
run state ``error`` and a "could not run" blocker; the task itself succeeds (a
retry would raise again). For the ``sbom`` check the SBOM of the source archive
is stored as a blob with the revision. A failure outside the check (the
database, a missing blob store) fails the attempt; on the last attempt the run
is closed as ``error`` so the revision's checks still finish.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from agent.checks import service
from agent.checks.service import RunJob, StoredSbom
from agent.engine.tasks.context import InvalidTaskArgs, TaskContext, TaskError
from shared.checks import sbom as sbom_check
from shared.checks.base import CheckInputs, CheckModule, CheckResult, Recorder, Status
from shared.checks.registry import by_id
from shared.errors import AtrError

log = logging.getLogger(__name__)


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    check_id: str
    artifact: str = ""


@dataclass(frozen=True)
class _Target:
    check: CheckModule
    artifact: str
    project: str
    version: str
    revision: int


def _target(ctx: TaskContext) -> _Target:
    try:
        args = _Args.model_validate(ctx.task.args)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "args"
        raise InvalidTaskArgs(f"check task arguments: {where}: {first['msg']}") from exc
    try:
        check = by_id(args.check_id)
    except KeyError as exc:
        raise InvalidTaskArgs(str(exc.args[0])) from None
    task = ctx.task
    if task.project is None or task.version is None or task.revision is None:
        raise InvalidTaskArgs("a check task needs a project, a version and a revision")
    return _Target(check, args.artifact, task.project, task.version, task.revision)


def _could_not_run(check_id: str, artifact: str, text: str) -> tuple[CheckResult, str]:
    where = f" on {artifact}" if artifact else ""
    sentence = f"the {check_id} check could not run{where}: {text}"
    return (
        CheckResult(check_id, artifact, Status.BLOCKER, sentence, {"could_not_run": True}),
        sentence,
    )


@contextmanager
def _materialized(ctx: TaskContext, job: RunJob) -> Iterator[dict[str, Path]]:
    """Each input file as a symbolic link named by its release path to its blob (no copy).

    The checks tell archive formats by file names, so the link carries the name the
    blob has in the release. The links live in a throwaway folder beside the blobs.
    """
    with tempfile.TemporaryDirectory(dir=ctx.blobs.tmp_dir, prefix="check-") as folder:
        files: dict[str, Path] = {}
        for path, sha256 in job.files.items():
            link = Path(folder, *path.split("/"))
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(ctx.blobs.path_for(sha256))
            files[path] = link
        yield files


def _run_check(
    check: CheckModule, job: RunJob, files: dict[str, Path]
) -> tuple[list[CheckResult], str | None]:
    missing = sorted(path for path, link in files.items() if not link.is_file())
    if missing:
        result, sentence = _could_not_run(
            job.check_id,
            job.artifact,
            f"the blob of {missing[0]} is missing from the agent's blob store",
        )
        return [result], sentence
    inputs = CheckInputs(
        project=job.project, version=job.version, files=files, keys=job.keys, policy=job.policy
    )
    recorder = Recorder(check.CHECK_ID)
    try:
        check.run(inputs, recorder, artifact=job.artifact or None)
    except Exception as exc:  # a check must never take the task down with it
        log.exception("check %s failed on %s", job.check_id, job.artifact or "the release")
        text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        result, sentence = _could_not_run(job.check_id, job.artifact, text)
        return [*recorder.results, result], sentence
    return recorder.results, None


def _sbom_text(job: RunJob, results: list[CheckResult], files: dict[str, Path]) -> str | None:
    """The SBOM the check made for the artifact (generated again when too big to be inline)."""
    summary = next(
        (
            r
            for r in results
            if r.status is Status.PASS and r.path == job.artifact and "sbom_sha256" in r.data
        ),
        None,
    )
    if summary is None:
        return None
    inline = summary.data.get("sbom")
    if isinstance(inline, str):
        return inline
    return sbom_check.generate_sbom_for(
        files[job.artifact],
        project=job.project,
        version=job.version,
        name=posixpath.basename(job.artifact),
        limits=job.policy.archive,
    )


def _store_sbom(ctx: TaskContext, artifact: str, text: str) -> StoredSbom:
    data = text.encode("utf-8")
    fd, name = tempfile.mkstemp(dir=ctx.blobs.tmp_dir, prefix="sbom-", suffix=".json")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        info = ctx.blobs.put_file(tmp)
    finally:
        tmp.unlink(missing_ok=True)
    return StoredSbom(artifact=artifact, sha256=info.sha256, sha512=info.sha512, size=info.size)


def _with_stored_sbom(results: list[CheckResult], stored: StoredSbom) -> list[CheckResult]:
    """The results with the inline SBOM replaced by where it is stored (results stay light)."""
    out: list[CheckResult] = []
    for result in results:
        if result.path == stored.artifact and "sbom_sha256" in result.data:
            data = {k: v for k, v in result.data.items() if k != "sbom"}
            data["sbom_sha256"] = stored.sha256
            data["sbom_bytes"] = stored.size
            data["sbom_stored"] = True
            out.append(dataclasses.replace(result, data=data))
        else:
            out.append(result)
    return out


def _sbom(
    ctx: TaskContext, job: RunJob, results: list[CheckResult], files: dict[str, Path]
) -> tuple[list[CheckResult], StoredSbom | None]:
    try:
        text = _sbom_text(job, results, files)
    except AtrError as exc:
        ctx.log(f"no SBOM stored for {job.artifact}: {exc.message}", level="warning")
        return results, None
    if text is None:
        return results, None
    stored = _store_sbom(ctx, job.artifact, text)
    ctx.log(f"SBOM of {job.artifact} stored ({stored.size} bytes, {stored.sha256[:12]}…)")
    return _with_stored_sbom(results, stored), stored


def run(ctx: TaskContext) -> dict[str, Any]:
    """Run the check named by ``ctx.task.args`` on its revision and store the results."""
    target = _target(ctx)
    check, artifact, task = target.check, target.artifact, ctx.task
    try:
        job = service.begin_run(
            ctx.factory,
            task_id=task.id,
            project=target.project,
            version=target.version,
            revision=target.revision,
            check_id=check.CHECK_ID,
            artifact=artifact,
        )
    except service.RunGone as exc:
        raise InvalidTaskArgs(exc.message, hint=exc.hint) from None
    if job is None:
        ctx.log("this run was finished or replaced by a rerun: nothing to do")
        return {"check": check.CHECK_ID, "artifact": artifact, "skipped": True}
    where = artifact or "the release"
    ctx.log(f"{check.CHECK_ID} (version {check.CHECK_VERSION}) on {where}")
    try:
        with _materialized(ctx, job) as files:
            results, error = _run_check(check, job, files)
            stored: StoredSbom | None = None
            if check.CHECK_ID == sbom_check.CHECK_ID and error is None:
                results, stored = _sbom(ctx, job, results, files)
    except Exception as exc:
        if task.attempt < task.max_attempts:
            raise
        # The last attempt: close the run so the revision's checks still finish.
        text = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        result, error = _could_not_run(check.CHECK_ID, artifact, text)
        service.finish_run(ctx.factory, job, task_id=task.id, results=[result], error=error)
        raise TaskError(error, retryable=False) from exc
    service.finish_run(ctx.factory, job, task_id=task.id, results=results, error=error, sbom=stored)
    counts = {status.value: 0 for status in Status}
    for result in results:
        counts[result.status.value] += 1
    ctx.log(
        f"{check.CHECK_ID} on {where}: "
        + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        + (f" — {error}" if error else ""),
        level="warning" if error or counts["blocker"] else "info",
    )
    return {
        "check": check.CHECK_ID,
        "artifact": artifact,
        "state": "error" if error else "done",
        "summary": counts,
        "input_hash": job.input_hash,
    }
