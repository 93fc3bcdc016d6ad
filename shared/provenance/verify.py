"""Offline verification of a downloaded release: what ``atr verify`` and the desktop run.

Given a folder of release files, the project's KEYS, an attestation bundle and the agent's
published keys, :func:`verify_release` checks:

1. **OpenPGP**: every artifact's ``.asc`` against KEYS (GnuPG, through the ``signatures``
   check), and its ``.sha512`` / ``.sha256`` (the ``checksums`` check);
2. **attestations**: each DSSE envelope of the bundle against the agent's keys — a key
   revoked by the agent makes its attestations invalid, a retired one does not;
3. **subjects**: every subject of every attestation is a file of the folder with the same
   SHA-256 and SHA-512;
4. **agreement**: the OpenPGP signers the release attestation names for each artifact are
   the ones whose signatures verified; the SBOMs it lists (when present) have its digests.

Each problem is a :class:`Finding` with a sentence for people. The report's
:attr:`VerifyReport.exit_code` is ``atr verify``'s: 0 valid, 1 invalid, 2 could not run.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from shared.errors import AtrError, ValidationError
from shared.provenance.dsse import AttestationInvalid, read_bundle, verify_envelope
from shared.provenance.keys import PublishedKey, parse_published_keys
from shared.provenance.statement import BUNDLE_SUFFIX, KIND_BY_TYPE, file_digests

__all__ = ["AttestationResult", "Finding", "VerifyReport", "verify_release"]

Level = Literal["ok", "warning", "error"]
PUBLISHED_KEYS_NAME = "automation-keys.pem"
"""The name ``atr attestation key`` and the download page give the agent's key file."""


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    area: Literal["openpgp", "checksum", "attestation", "subject", "sbom", "setup"]
    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "area": self.area, "path": self.path, "message": self.message}


@dataclass
class AttestationResult:
    """One envelope of the bundle, verified or not."""

    line: int
    kind: str
    predicate_type: str
    valid: bool
    key: str | None
    key_state: str | None
    problem: str | None
    subjects: list[str]
    statement: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "kind": self.kind,
            "predicateType": self.predicate_type,
            "valid": self.valid,
            "key": self.key,
            "keyState": self.key_state,
            "problem": self.problem,
            "subjects": self.subjects,
        }


@dataclass
class VerifyReport:
    """Everything :func:`verify_release` found."""

    findings: list[Finding] = field(default_factory=list)
    attestations: list[AttestationResult] = field(default_factory=list)
    could_not_run: str | None = None
    hint: str | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def valid(self) -> bool:
        return self.could_not_run is None and not self.errors

    @property
    def exit_code(self) -> int:
        if self.could_not_run is not None:
            return 2
        return 1 if self.errors else 0

    def add(self, level: Level, area: Any, path: str, message: str) -> None:
        self.findings.append(Finding(level, area, path, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "exit_code": self.exit_code,
            "could_not_run": self.could_not_run,
            "hint": self.hint,
            "findings": [f.to_json() for f in self.findings],
            "attestations": [a.to_json() for a in self.attestations],
            "summary": {
                level: sum(1 for f in self.findings if f.level == level)
                for level in ("error", "warning", "ok")
            },
        }


class CannotVerify(AtrError):
    """Verification could not run (a missing file, no GnuPG): exit code 2."""


def _find_one(directory: Path, suffix: str, what: str, option: str) -> Path:
    found = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(suffix))
    if len(found) == 1:
        return found[0]
    if not found:
        raise CannotVerify(f"{directory} holds no {what} (*{suffix})", hint=f"give it: {option}")
    names = ", ".join(p.name for p in found)
    raise CannotVerify(f"{directory} holds several {what}s ({names})", hint=f"choose: {option}")


def _openpgp(
    directory: Path, keys_file: Path | None, skip: set[str], report: VerifyReport
) -> dict[str, set[str]]:
    """Signatures and checksums, through the shared checks; artifact → verified signers."""
    from shared.checks import checksums, signatures  # noqa: PLC0415 - pulls GnuPG helpers
    from shared.checks.base import CheckModule, Status  # noqa: PLC0415
    from shared.checks.runner import inputs_from_directory, run_checks  # noqa: PLC0415
    from shared.openpgp.gnupg import GPG  # noqa: PLC0415

    if shutil.which(GPG) is None:
        raise CannotVerify(f"GnuPG ({GPG}) is not installed", hint="install GnuPG 2.2+")
    if keys_file is None and not (directory / "KEYS").is_file():
        raise CannotVerify(
            f"{directory} has no KEYS file to check the OpenPGP signatures against",
            hint="give the project's KEYS: --keys KEYS",
        )
    try:
        inputs = inputs_from_directory(directory, keys_file)
    except ValidationError as exc:
        raise CannotVerify(exc.message, hint=exc.hint) from exc
    files = {p: f for p, f in inputs.files.items() if p not in skip}
    inputs = dataclasses.replace(inputs, files=files)
    checks = [cast(CheckModule, signatures), cast(CheckModule, checksums)]
    result = run_checks(inputs, checks=checks)
    if result.errors:
        raise CannotVerify("; ".join(result.errors))
    signers: dict[str, set[str]] = {}
    for item in result.results:
        area = "openpgp" if item.check == "signatures" else "checksum"
        level: Level = "ok"
        if item.status is Status.BLOCKER:
            level = "error"
        elif item.status is Status.WARNING:
            level = "warning"
        report.add(level, area, item.path, item.message)
        if item.check == "signatures" and item.status is Status.PASS:
            artifact = item.path.removesuffix(".asc")
            for fingerprint in item.data.get("fingerprints") or []:
                signers.setdefault(artifact, set()).add(str(fingerprint).upper())
    return signers


def _subjects(
    directory: Path,
    statement: dict[str, Any],
    cache: dict[str, dict[str, str]],
    report: VerifyReport,
    kind: str,
) -> None:
    for item in statement["subject"]:
        name = str(item["name"])
        path = directory / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            report.add("error", "subject", name, f"the {kind} attestation names an unsafe path")
            continue
        if not path.is_file():
            report.add(
                "error", "subject", name,
                f"the {kind} attestation names {name}, which is not in {directory}",
            )  # fmt: skip
            continue
        actual = cache.setdefault(name, file_digests(path))
        wrong = [
            algo
            for algo, value in item["digest"].items()
            if algo in actual and str(value).lower() != actual[algo]
        ]
        known = [algo for algo in item["digest"] if algo in actual]
        if not known:
            report.add("error", "subject", name, f"the {kind} attestation gives no SHA-2 digest")
        elif wrong:
            algo = wrong[0]
            report.add(
                "error", "subject", name,
                f"{name} is not the file the {kind} attestation is about: its {algo} is "
                f"{actual[algo][:16]}…, the attestation says {str(item['digest'][algo])[:16]}…",
            )  # fmt: skip
        else:
            report.add(
                "ok", "subject", name, f"matches the {kind} attestation ({', '.join(known)})"
            )


def _agreement(
    directory: Path,
    statement: dict[str, Any],
    signers: dict[str, set[str]],
    cache: dict[str, dict[str, str]],
    report: VerifyReport,
) -> None:
    predicate = statement["predicate"]
    for artifact in predicate.get("artifacts") or []:
        name = str(artifact.get("name", ""))
        named = {str(s.get("fingerprint", "")).upper() for s in artifact.get("signers") or []}
        if name in signers and named and not (signers[name] & named):
            report.add(
                "error", "openpgp", name,
                f"{name} is signed by {', '.join(sorted(signers[name]))}, but the release "
                f"attestation names {', '.join(sorted(named))}",
            )  # fmt: skip
    for sbom in predicate.get("sboms") or []:
        name = str(sbom.get("name", ""))
        path = directory / name
        if not name or not path.is_file() or ".." in Path(name).parts:
            continue
        actual = cache.setdefault(name, file_digests(path))
        expected = str((sbom.get("digest") or {}).get("sha256", "")).lower()
        if expected and actual["sha256"] != expected:
            report.add(
                "error", "sbom", name, f"{name} is not the SBOM the release attestation lists"
            )
        elif expected:
            report.add("ok", "sbom", name, "matches the release attestation")


def _attestations(
    directory: Path,
    envelopes: Sequence[dict[str, Any]],
    keys: Sequence[PublishedKey],
    signers: dict[str, set[str]],
    report: VerifyReport,
) -> None:
    cache: dict[str, dict[str, str]] = {}
    for line, data in enumerate(envelopes, start=1):
        try:
            verified = verify_envelope(data, keys)
        except (AttestationInvalid, ValidationError) as exc:
            report.attestations.append(
                AttestationResult(line, "?", "?", False, None, None, exc.message, [])
            )
            report.add("error", "attestation", f"#{line}", f"attestation #{line}: {exc.message}")
            continue
        statement = verified.statement
        kind = KIND_BY_TYPE.get(statement["predicateType"], statement["predicateType"])
        key = verified.key
        names = [str(s["name"]) for s in statement["subject"]]
        problem = None
        if key.revoked:
            problem = f"signed by a revoked key: {key.standing()}"
            report.add("error", "attestation", f"#{line}", f"the {kind} attestation is {problem}")
        else:
            report.add(
                "ok", "attestation", f"#{line}",
                f"the {kind} attestation is signed by {key.standing()}",
            )  # fmt: skip
        report.attestations.append(
            AttestationResult(
                line, kind, statement["predicateType"], problem is None, key.fingerprint,
                key.state, problem, names, statement,
            )
        )  # fmt: skip
        _subjects(directory, statement, cache, report, kind)
        if kind == "release":
            _agreement(directory, statement, signers, cache, report)


def verify_release(
    directory: Path,
    *,
    keys_file: Path | None = None,
    bundle: Path | None = None,
    agent_keys: Path | None = None,
) -> VerifyReport:
    """Verify the release in ``directory`` (see the module docstring)."""
    report = VerifyReport()
    try:
        if not directory.is_dir():
            raise CannotVerify(f"{directory} is not a folder", hint="give the release's folder")
        bundle = bundle or _find_one(directory, BUNDLE_SUFFIX, "attestation bundle",
                                     "--attestations BUNDLE")  # fmt: skip
        agent_keys = agent_keys or _find_one(directory, ".pem", "agent key file",
                                             "--agent-key KEYS.pem")  # fmt: skip
        try:
            envelopes = read_bundle(bundle.read_text("utf-8"), source=bundle.name)
            keys = parse_published_keys(agent_keys.read_text("utf-8"))
        except OSError as exc:
            raise CannotVerify(f"cannot read {exc.filename}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise CannotVerify(f"a file given is not text: {exc}") from exc
        except ValidationError as exc:
            raise CannotVerify(exc.message, hint=exc.hint) from exc
        skip = {p.name for p in (bundle, agent_keys) if p.parent.resolve() == directory.resolve()}
        signers = _openpgp(directory, keys_file, skip, report)
    except CannotVerify as exc:
        report.could_not_run = exc.message
        report.hint = exc.hint
        return report
    _attestations(directory, envelopes, keys, signers, report)
    return report
