"""The runner: scopes, ignores, the report's JSON shape, exit codes, inputs from a folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from shared.checks import registry
from shared.checks.base import CheckInputs, CheckResult, Recorder, Scope, Status
from shared.checks.policy import IgnoreRule, Policy
from shared.checks.runner import Report, apply_ignores, inputs_from_directory, run_checks
from shared.errors import ValidationError
from tests.support.gpg import GpgFactory
from tests.unit.checks import hostile

NAME = "apache-foo-1.0-src"
ART = f"{NAME}.tar.gz"


def fake_check(check_id: str, scope: Scope, fn) -> SimpleNamespace:
    return SimpleNamespace(CHECK_ID=check_id, CHECK_VERSION=1, SCOPE=scope, run=fn)


def test_scopes_and_order() -> None:
    calls: list[tuple[str, str | None]] = []

    def record(name: str):
        def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
            calls.append((name, artifact))
            recorder.passed(artifact or "", "ok")

        return run

    inputs = CheckInputs(
        "foo", "1.0", {"b.zip": Path("b"), "a.tar.gz": Path("a"), "a.tar.gz.asc": Path("c")}
    )
    checks = [
        fake_check("one", Scope.RELEASE, record("one")),
        fake_check("two", Scope.ARTIFACT, record("two")),
    ]
    report = run_checks(inputs, checks=checks)  # type: ignore[arg-type]
    assert calls == [("one", None), ("two", "a.tar.gz"), ("two", "b.zip")]
    assert report.summary == {"blocker": 0, "warning": 0, "note": 0, "pass": 3}
    assert report.exit_code == 0


def test_a_failing_check_is_reported_and_exit_code_is_2() -> None:
    def boom(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
        raise RuntimeError("disk on fire")

    report = run_checks(
        CheckInputs("foo", "1.0", {}), checks=[fake_check("x", Scope.RELEASE, boom)]
    )  # type: ignore[list-item]
    [result] = report.results
    assert result.status is Status.BLOCKER
    assert result.data == {"could_not_run": True}
    assert "disk on fire" in result.message
    assert report.errors and report.exit_code == 2


def test_ignores_downgrade_to_notes_but_never_signature_or_checksum_blockers() -> None:
    results = [
        CheckResult("paths", "notes.docx", Status.NOTE, "unknown"),
        CheckResult("paths", ".DS_Store", Status.BLOCKER, "leftover"),
        CheckResult("signatures", "a.asc", Status.BLOCKER, "bad"),
        CheckResult("checksums", "a.sha1", Status.WARNING, "sha1"),
        CheckResult("headers", "x", Status.PASS, "ok"),
    ]
    policy = Policy(
        ignores=(
            IgnoreRule(check="paths", path=".DS_*", reason="the mirror adds it"),
            IgnoreRule(check="signatures", reason="trust me"),
            IgnoreRule(check="checksums", path="*.sha1", reason="legacy", status="warning"),
            IgnoreRule(check="headers", reason="passes are never touched"),
        )
    )
    out = apply_ignores(results, policy)
    assert out[0] == results[0]
    assert out[1].status is Status.NOTE
    assert out[1].data["ignored"] == {
        "reason": "the mirror adds it",
        "status": "blocker",
        "rule": {"check": "paths", "path": ".DS_*"},
    }
    assert out[2] == results[2]  # unignorable
    assert out[3].status is Status.NOTE  # a checksum warning may be ignored
    assert out[4] == results[4]


def test_report_json_has_exactly_the_documented_shape() -> None:
    report = Report((CheckResult("paths", "a", Status.WARNING, "w", {"n": 1}),))
    data = json.loads(json.dumps(report.to_json()))
    assert list(data) == ["results", "summary"]
    assert data["results"] == [
        {"check": "paths", "path": "a", "status": "warning", "message": "w", "data": {"n": 1}}
    ]
    assert data["summary"] == {"blocker": 0, "warning": 1, "note": 0, "pass": 0}
    assert report.exit_code == 0


def test_inputs_from_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ART).write_bytes(b"a")
    (tmp_path / "sub" / "x.txt").write_bytes(b"x")
    (tmp_path / "KEYS").write_text("keys text")
    inputs = inputs_from_directory(tmp_path)
    assert sorted(inputs.files) == [ART, "sub/x.txt"]
    assert inputs.keys == ("keys text",)
    assert (inputs.project, inputs.version) == ("foo", "1.0")
    other = tmp_path / "OTHER_KEYS"
    other.write_text("other")
    explicit = inputs_from_directory(tmp_path, other, project="bar", version="2.0")
    assert "KEYS" in explicit.files and explicit.keys == ("other",)
    assert (explicit.project, explicit.version) == ("bar", "2.0")
    with pytest.raises(ValidationError, match="not a directory"):
        inputs_from_directory(tmp_path / "missing")
    with pytest.raises(ValidationError, match="cannot read the keys file"):
        inputs_from_directory(tmp_path, tmp_path / "nope")


def test_registry_is_ordered_and_unique() -> None:
    ids = [c.CHECK_ID for c in registry.CHECKS]
    assert len(ids) == len(set(ids))
    assert ids[:5] == ["paths", "keys", "signatures", "checksums", "archives"]
    assert registry.by_id("checksums").SCOPE is Scope.ARTIFACT
    with pytest.raises(KeyError, match="known"):
        registry.by_id("nope")


def test_full_run_over_a_signed_release(tmp_path: Path, gpg_factory: GpgFactory) -> None:
    art = hostile.write_tar(tmp_path / ART, hostile.source_tree(NAME))
    gpg_factory.sign("ed25519", art)
    (tmp_path / (ART + ".sha512")).write_text(
        f"{hashlib.sha512(art.read_bytes()).hexdigest()}  {ART}\n"
    )
    keys = tmp_path.parent / f"{tmp_path.name}-KEYS"
    keys.write_text(gpg_factory.keys_file(["ed25519"]))
    report = run_checks(inputs_from_directory(tmp_path, keys))
    mine = [
        r
        for r in report.results
        if r.check in ("paths", "keys", "signatures", "checksums", "archives")
    ]
    assert [r.status for r in mine] == [Status.PASS] * 5, [r.message for r in mine]
    assert not report.errors


def test_waiting_checks_run_beside_the_others_and_keep_registry_order(tmp_path: Path) -> None:
    """keys and signatures wait on GnuPG in a second thread; results stay in running order."""
    import threading  # noqa: PLC0415
    import types  # noqa: PLC0415

    from shared.checks.base import CheckInputs, Scope  # noqa: PLC0415
    from shared.checks.runner import run_checks  # noqa: PLC0415

    threads: dict[str, str] = {}

    def module(check_id: str) -> types.ModuleType:
        def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
            threads[check_id] = threading.current_thread().name
            recorder.note("", f"{check_id} ran")

        mod = types.ModuleType(check_id)
        mod.CHECK_ID, mod.CHECK_VERSION, mod.SCOPE, mod.run = check_id, 1, Scope.RELEASE, run  # type: ignore[attr-defined]
        return mod

    checks = [module(c) for c in ("paths", "keys", "signatures", "archives")]
    report = run_checks(CheckInputs("foo", "1.0", {}), checks=checks)  # type: ignore[arg-type]
    assert [r.check for r in report.results] == ["paths", "keys", "signatures", "archives"]
    assert threads["keys"] == threads["signatures"] != threads["paths"] == threads["archives"]
