"""Run the registered checks over a release and gather one :class:`Report`.

::

    inputs = inputs_from_directory(Path("dist/foo-1.0"), keys_file=Path("KEYS"))
    report = run_checks(inputs)
    report.summary      # {"blocker": 0, "warning": 1, "note": 2, "pass": 17}
    report.to_json()    # {"results": [...], "summary": {...}} — the `atr check --json` shape
    report.exit_code    # 0 no blocker, 1 a blocker, 2 a check could not run

Release-scoped checks run once, artifact-scoped ones once per artifact
(:func:`shared.checks.artifacts.find_artifacts`), in registry order. The policy's
ignore rules then apply: an ignored result is kept, as a ``note`` whose
``data.ignored`` holds the rule's reason and the original status; blockers of
:data:`~shared.checks.policy.UNIGNORABLE_CHECKS` are never ignored. A check that
raises is reported as a blocker with ``data.could_not_run`` and makes the exit code 2.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.checks.artifacts import (
    archive_stem,
    find_artifacts,
    is_source_archive,
    release_files,
)
from shared.checks.base import CheckInputs, CheckModule, CheckResult, Recorder, Scope, Status
from shared.checks.digests import clear_digest_cache
from shared.checks.policy import UNIGNORABLE_CHECKS, Policy
from shared.errors import ValidationError
from shared.openpgp.gnupg import shared_keyrings

__all__ = ["Report", "apply_ignores", "inputs_from_directory", "run_checks"]

log = logging.getLogger(__name__)

MAX_KEYS_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Report:
    """The results of a run, in running order, and the checks that could not run."""

    results: tuple[CheckResult, ...]
    errors: tuple[str, ...] = ()
    """One sentence per check (and artifact) that raised instead of recording results."""

    @property
    def summary(self) -> dict[str, int]:
        """Result count per status, every status present (worst first)."""
        counts = {status.value: 0 for status in Status}
        for result in self.results:
            counts[result.status.value] += 1
        return counts

    @property
    def blocked(self) -> bool:
        return any(r.status is Status.BLOCKER for r in self.results)

    @property
    def exit_code(self) -> int:
        """``atr check``'s exit code: 2 if a check could not run, else 1 for a blocker, else 0."""
        if self.errors:
            return 2
        return 1 if self.blocked else 0

    def to_json(self) -> dict[str, Any]:
        """``{"results": [{"check", "path", "status", "message", "data"}], "summary": {...}}``."""
        return {"results": [r.to_json() for r in self.results], "summary": self.summary}


def apply_ignores(results: Iterable[CheckResult], policy: Policy) -> list[CheckResult]:
    """The results with the policy's ignore rules applied (see the module docstring)."""
    out: list[CheckResult] = []
    for result in results:
        if result.status is Status.PASS or result.data.get("could_not_run"):
            out.append(result)
            continue
        if result.status is Status.BLOCKER and result.check in UNIGNORABLE_CHECKS:
            out.append(result)
            continue
        rule = next(
            (r for r in policy.ignores if r.matches(result.check, result.path, result.status)),
            None,
        )
        if rule is None:
            out.append(result)
            continue
        data = dict(result.data)
        data["ignored"] = {
            "reason": rule.reason,
            "status": result.status.value,
            "rule": {"check": rule.check, "path": rule.path},
        }
        out.append(dataclasses.replace(result, status=Status.NOTE, data=data))
    return out


def _run_one(
    check: CheckModule, inputs: CheckInputs, artifact: str | None
) -> tuple[list[CheckResult], str | None]:
    recorder = Recorder(check.CHECK_ID)
    try:
        check.run(inputs, recorder, artifact=artifact)
    except Exception as exc:  # a check must never take the run down with it
        log.exception("check %s failed on %s", check.CHECK_ID, artifact or "the release")
        text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        where = f" on {artifact}" if artifact else ""
        sentence = f"the {check.CHECK_ID} check could not run{where}: {text}"
        recorder.results.append(
            CheckResult(
                check.CHECK_ID, artifact or "", Status.BLOCKER, sentence, {"could_not_run": True}
            )
        )
        return recorder.results, sentence
    return recorder.results, None


BACKGROUND_CHECKS = frozenset({"keys", "signatures", "checksums"})
"""Checks that spend their time outside the interpreter, waiting for GnuPG or hashing
(hashlib releases the GIL): :func:`run_checks` runs them in a second thread while the others
read the archives, and keeps the results in registry order. The keys and signatures checks
there share one keyring (:func:`shared.openpgp.gnupg.shared_keyrings`): KEYS is imported
once per run."""


def run_checks(inputs: CheckInputs, *, checks: Sequence[CheckModule] | None = None) -> Report:
    """Run ``checks`` (default: every registered check) over ``inputs``."""
    if checks is None:
        from shared.checks.registry import CHECKS  # noqa: PLC0415 - the registry imports the checks

        checks = CHECKS
    artifacts = find_artifacts(inputs.files)
    jobs: list[tuple[CheckModule, str | None]] = [
        (check, target)
        for check in checks
        for target in ([None] if check.SCOPE is Scope.RELEASE else list(artifacts))
    ]
    waiting = [i for i, job in enumerate(jobs) if job[0].CHECK_ID in BACKGROUND_CHECKS]
    outcomes: dict[int, tuple[list[CheckResult], str | None]] = {}

    def run_waiting() -> None:
        with shared_keyrings():
            for i in waiting:
                outcomes[i] = _run_one(jobs[i][0], inputs, jobs[i][1])

    helper = None
    if waiting:  # in the caller's context: its shared keyrings, if it made some
        context = contextvars.copy_context()
        helper = threading.Thread(target=context.run, args=(run_waiting,), name="atr-checks-gnupg")
    if helper is not None and len(jobs) > len(waiting):
        helper.start()
    elif helper is not None:
        run_waiting()
        helper = None
    for i, (check, target) in enumerate(jobs):
        if check.CHECK_ID not in BACKGROUND_CHECKS:
            outcomes[i] = _run_one(check, inputs, target)
    if helper is not None:
        helper.join()
    clear_digest_cache()  # kept for one run: a file may change between runs, keeping its name
    results: list[CheckResult] = []
    errors: list[str] = []
    for i in range(len(jobs)):
        found, error = outcomes[i]
        results.extend(found)
        if error:
            errors.append(error)
    return Report(tuple(apply_ignores(results, inputs.policy)), tuple(errors))


_NAME_VERSION_RE = re.compile(r"^(?P<name>.+?)-(?P<version>\d[0-9A-Za-z.+_~-]*)$")
_SUFFIXES = ("-source-release", "-src-release", "-sources", "-source", "-src", "-bin")


def _guess_project_version(files: Iterable[str]) -> tuple[str, str]:
    """Project and version from the first source archive's name (``apache-foo-1.2-src.tar.gz``
    → ``foo``, ``1.2``); ``("unknown", "0")`` when no name fits."""
    artifacts = find_artifacts(files)
    ordered = [a for a in artifacts if is_source_archive(a)] + artifacts
    for artifact in ordered:
        stem = archive_stem(artifact)
        for suffix in _SUFFIXES:
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        match = _NAME_VERSION_RE.match(stem)
        if match:
            name = match.group("name").lower().replace("_", "-")
            name = name.removeprefix("apache-")
            return name, match.group("version")
    return "unknown", "0"


def inputs_from_directory(
    directory: Path,
    keys_file: Path | None = None,
    policy: Policy | None = None,
    *,
    project: str | None = None,
    version: str | None = None,
) -> CheckInputs:
    """The inputs for checking the files under ``directory`` (walked recursively).

    Without ``keys_file``, a ``KEYS`` file at the top of ``directory`` is used as the
    keys and is not counted among the release files. ``project`` and ``version`` are
    guessed from the first source archive's name when not given. Raises
    :class:`~shared.errors.ValidationError` for a missing directory or unreadable keys.
    """
    if not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory", hint="give the folder to check")
    files = release_files(directory)
    if keys_file is None and "KEYS" in files:
        keys_file = files.pop("KEYS")
    keys: tuple[str, ...] = ()
    if keys_file is not None:
        try:
            if keys_file.stat().st_size > MAX_KEYS_FILE_BYTES:
                raise ValidationError(f"the keys file {keys_file} is too large to be a KEYS file")
            keys = (keys_file.read_bytes().decode("utf-8", "replace"),)
        except OSError as exc:
            raise ValidationError(f"cannot read the keys file {keys_file}: {exc.strerror}") from exc
    guessed = _guess_project_version(files)
    return CheckInputs(
        project=project or guessed[0],
        version=version or guessed[1],
        files=files,
        keys=keys,
        policy=policy or Policy(),
    )
