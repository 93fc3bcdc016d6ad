"""agent.checks on a real SQLite database, with the 'check' task handler run in-process.

Real blobs, real GnuPG signatures, the registered checks: a revision plans its
runs, the handler runs them, results are stored; caching by input hash, ignore
rules, the policy, the gate and the automatic move to candidate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from agent import phases, store
from agent.blobs import BlobStore
from agent.checks import gate, inputs, policy, queries, service
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.engine import queue
from agent.engine.tasks import TaskContext, run_task
from agent.store import Conflict, Forbidden, Principal, Store
from shared.checks import compiled
from shared.checks.policy import Policy
from shared.errors import ValidationError
from shared.lifecycle import Phase
from shared.protocol import (
    CommitteeCreate,
    Membership,
    ProjectCreate,
    ReleaseCreate,
    RevisionCreate,
    Role,
    TransitionRequest,
    UserCreate,
)
from shared.protocol.checks import CheckReport, PolicyUpdate
from shared.sbom.validate import validate_cyclonedx
from tests.support.checks_release import CLASS_FILE, release_files, source_archive
from tests.support.keys import user_key

OPERATOR = Principal.operator()
PROJECT = "acme-lib"
ROOT = "apache-acme-lib-1.0.0-src"
ART = f"{ROOT}.tar.gz"


def art(version: str) -> str:
    """The source archive of ``version`` (its name carries the version, as paths checks)."""
    return f"apache-acme-lib-{version}-src.tar.gz"


@dataclass
class World:
    factory: sessionmaker[Session]
    blobs: BlobStore
    tmp: Path

    def principal(self, name: str) -> Principal:
        with self.factory() as session:
            user = session.scalars(select(models.User).where(models.User.name == name)).one()
            token = models.ApiToken(id=1, role=Role.ADMIN.value, project=None)
            return store.principal_for_user(user, token=token)

    def upload(self, files: dict[str, bytes]) -> dict[str, str]:
        shas: dict[str, str] = {}
        for name, data in files.items():
            path = self.tmp / "upload.bin"
            path.write_bytes(data)
            info = self.blobs.put_file(path)
            with transaction(self.factory) as session:
                Store(session, OPERATOR).as_uploader().record_blob(info)
            shas[name] = info.sha256
        return shas

    def revision(self, version: str, files: dict[str, bytes], *, base: int | None = None) -> int:
        shas = self.upload(files)
        with transaction(self.factory) as session:
            made = phases.create_revision(
                Store(session, self.principal("bob")),
                PROJECT,
                version,
                RevisionCreate(base=base, files=shas),
            )
        return made.number

    def release(self, version: str) -> None:
        with transaction(self.factory) as session:
            Store(session, self.principal("bob")).as_committer(PROJECT).create_release(
                ReleaseCreate(version=version)
            )

    def work(self) -> int:
        """Run every queued task in this process, as a worker would. Returns how many ran."""
        ran = 0
        while (task := queue.claim(self.factory, owner="test", lease_seconds=120)) is not None:
            result = run_task(TaskContext(task=task, factory=self.factory, blobs=self.blobs))
            queue.complete(self.factory, task.id, owner="test", result=result)
            ran += 1
        return ran

    def report(self, version: str, number: int | None = None) -> CheckReport:
        with self.factory() as session:
            return queries.get_report(session, PROJECT, version, number)

    def phase(self, version: str) -> str:
        with self.factory() as session:
            return store.get_release(session, PROJECT, version).phase.value

    def transition(self, version: str, to: Phase, who: str = "alice") -> str:
        with transaction(self.factory) as session:
            store_ = Store(session, self.principal(who))
            return phases.transition(store_, PROJECT, version, TransitionRequest(to=to)).phase.value

    def set_policy(self, document: dict[str, Any], reason: str = "", who: str = "alice") -> None:
        with transaction(self.factory) as session:
            policy.update_policy(
                Store(session, self.principal(who)),
                PROJECT,
                PolicyUpdate(policy=document, reason=reason),
            )

    def events(self, kind: str) -> list[models.Event]:
        with self.factory() as session:
            return list(
                session.scalars(
                    select(models.Event).where(models.Event.kind == kind).order_by(models.Event.id)
                )
            )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    migrate(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        admin = Store(session, OPERATOR).as_admin()
        admin.create_committee(CommitteeCreate(name="acme"))
        admin.create_project(ProjectCreate(key=PROJECT, committee="acme"))
        for name, role in (("alice", Role.PMC), ("bob", Role.COMMITTER)):
            admin.create_user(
                UserCreate(
                    name=name,
                    email=f"{name}@example.org",
                    public_key=user_key(name).public_armor,
                    memberships=[Membership(committee="acme", role=role)],
                )
            )
    yield World(factory, BlobStore(tmp_path / "blobs", max_size=1 << 30), tmp_path)
    engine.dispose()


def good_files(version: str = "1.0.0", /, **extra: bytes) -> dict[str, bytes]:
    name = art(version)
    return release_files(
        name, source_archive(name.removesuffix(".tar.gz"), extra=extra), user_key("bob")
    )


def by_check(report: CheckReport) -> dict[tuple[str, str], str]:
    return {(r.check, r.artifact): r.state for r in report.runs}


# --- planning and hashing -----------------------------------------------------------------------


def test_runs_are_planned_per_check_and_artifact() -> None:
    paths = ["a-1.0.tar.gz", "a-1.0.tar.gz.asc", "a-1.0.tar.gz.sha512", "b-1.0.zip", "README"]
    planned = inputs.plan_runs(paths)
    keys = [p.key for p in planned]
    assert ("paths", "") in keys and ("keys", "") in keys
    for check in ("signatures", "checksums", "archives", "sbom"):
        assert (check, "a-1.0.tar.gz") in keys and (check, "b-1.0.zip") in keys
    assert len(keys) == len(set(keys)) == 2 + 7 * 2
    sig = next(p for p in planned if p.key == ("signatures", "a-1.0.tar.gz"))
    assert inputs.input_files(sig, paths) == [
        "a-1.0.tar.gz",
        "a-1.0.tar.gz.asc",
        "a-1.0.tar.gz.sha512",
    ]
    assert inputs.input_files(planned[0], paths) == sorted(paths)


def test_the_hash_covers_exactly_what_a_run_reads() -> None:
    files = {"a-1.0.tar.gz": "1" * 64, "a-1.0.tar.gz.asc": "2" * 64, "README": "3" * 64}
    base = inputs.HashBasis("acme-lib", "1.0", Policy(), ("KEY A\n",), files)
    planned = inputs.plan_runs(files)

    def hashes(**changes: Any) -> dict[tuple[str, str], str]:
        fields = {"project": "acme-lib", "version": "1.0", "policy": Policy(),
                  "keys": ("KEY A\n",), "files": files, **changes}  # fmt: skip
        return inputs.run_hashes(inputs.HashBasis(**fields), planned)

    before = inputs.run_hashes(base, planned)
    assert before == hashes()
    # An unrelated file: only release-scoped runs change.
    changed = hashes(files={**files, "README": "4" * 64})
    assert {k for k in before if before[k] != changed[k]} == {("paths", ""), ("keys", "")}
    # The signature file: the artifact's runs and the release-scoped ones.
    changed = hashes(files={**files, "a-1.0.tar.gz.asc": "5" * 64})
    assert all(before[k] != changed[k] for k in before)
    # Keys: only the checks that read them.
    changed = hashes(keys=("KEY A\n", "KEY B\n"))
    assert {k for k in before if before[k] != changed[k]} == {
        ("keys", ""),
        ("signatures", "a-1.0.tar.gz"),
    }
    # A policy field is an input of the checks that read it (POLICY_FIELDS); ignore rules
    # are an input of none.
    changed = hashes(policy=Policy(compiled_code="warning"))
    assert {k for k in before if before[k] != changed[k]} == {("compiled_code", "a-1.0.tar.gz")}
    changed = hashes(policy=Policy(license_header_excludes=("gen/*",)))
    assert {k for k in before if before[k] != changed[k]} == {("license_headers", "a-1.0.tar.gz")}
    changed = hashes(policy=Policy(podling=True))
    assert {k for k in before if before[k] != changed[k]} == {
        ("paths", ""),
        ("license_notice", "a-1.0.tar.gz"),
    }
    ignoring = Policy.model_validate({"ignores": [{"check": "paths", "reason": "because"}]})
    assert hashes(policy=ignoring) == before
    assert hashes(version="1.1") != before


# --- runs in a worker ---------------------------------------------------------------------------


def test_a_good_release_passes_and_becomes_a_candidate(world: World) -> None:
    world.release("1.0.0")
    number = world.revision("1.0.0", good_files())
    queued = world.events("checks.queued")
    assert queued[-1].data == {"revision": 1, "runs": 9, "queued": 9, "reused": 0, "rerun": False}
    pending = world.report("1.0.0")
    assert pending.state == "pending" and not pending.blocked and len(pending.runs) == 9
    assert all(r.task_id is not None for r in pending.runs)
    assert world.transition("1.0.0", Phase.CHECKS, "bob") == "checks"
    with pytest.raises(Conflict, match=r"not finished \(9 of 9 runs queued or running\)"):
        world.transition("1.0.0", Phase.CANDIDATE)
    assert world.work() == 9
    report = world.report("1.0.0", number)
    assert report.state == "done" and not report.blocked and report.stale == 0
    assert report.summary["blocker"] == 0, [r.message for r in report.results if r.status != "pass"]
    sig = next(r for r in report.results if r.check == "signatures")
    assert sig.data["fingerprints"] == [user_key("bob").fingerprint]
    finished = world.events("check.finished")
    assert len(finished) == 9 and {e.data["check"] for e in finished} >= {"signatures", "sbom"}
    done = world.events("checks.done")
    assert len(done) == 1 and done[0].data["blocked"] is False and done[0].data["runs"] == 9
    # The release was in 'checks' when the last run finished: it moved on by itself.
    assert world.phase("1.0.0") == "candidate"
    moves = world.events("release.phase_changed")
    assert (moves[-1].actor, moves[-1].data["to"]) == ("atr-agent", "candidate")
    # The SBOM is stored as a blob with the revision, and is valid CycloneDX.
    with world.factory() as session:
        [sbom] = queries.list_sboms(session, PROJECT, "1.0.0", None)
        blob = queries.get_sbom(session, PROJECT, "1.0.0", 1, ART)
    assert sbom.artifact == ART and sbom.sha256 == blob.sha256
    text = world.blobs.path_for(blob.sha256).read_text()
    assert validate_cyclonedx(text, strict=True) == []
    assert json.loads(text)["metadata"]["component"]["name"]
    summary = next(r for r in report.results if r.check == "sbom" and r.status == "pass")
    assert "sbom" not in summary.data and summary.data["sbom_sha256"] == sbom.sha256
    assert world.events("sbom.stored")[-1].data["artifact"] == ART
    # The gate is open: nothing in the checks stops the vote (which the vote service starts).
    with transaction(world.factory) as session:
        release = session.scalars(
            select(models.Release).where(models.Release.version == "1.0.0")
        ).one()
        gate.gate_transition(session, release, Phase.VOTE)


def test_unchanged_inputs_are_not_run_again(world: World) -> None:
    world.release("1.0.0")
    world.revision("1.0.0", good_files())
    world.work()
    # A second revision that only adds an unrelated file reruns what reads it.
    world.revision("1.0.0", {"RELEASE-NOTES.txt": b"notes\n"}, base=1)
    assert world.events("checks.queued")[-1].data["queued"] == 2
    assert world.work() == 2
    report = world.report("1.0.0", 2)
    reused = {(r.check, r.artifact) for r in report.runs if r.reused}
    assert ("paths", "") not in reused and ("keys", "") not in reused
    assert len(reused) == 7 and report.state == "done" and not report.blocked
    with world.factory() as session:
        assert [s.artifact for s in queries.list_sboms(session, PROJECT, "1.0.0", 2)] == [ART]
        runs = session.scalars(
            select(models.CheckRun).where(models.CheckRun.reused_from.is_not(None))
        ).all()
        assert all(r.task_id is None and r.results for r in runs)
    # A third revision with the same files as the second: everything is reused, done at once.
    world.revision("1.0.0", {}, base=2)
    assert world.events("checks.queued")[-1].data == {
        "revision": 3,
        "runs": 9,
        "queued": 0,
        "reused": 9,
        "rerun": False,
    }
    assert world.report("1.0.0", 3).state == "done"
    assert world.events("checks.done")[-1].data["revision"] == 3


def test_blockers_close_the_gate_and_ignore_rules_open_it(world: World) -> None:
    world.release("2.0.0")
    ART2 = art("2.0.0")
    files = good_files("2.0.0", **{"lib/Helper.class": CLASS_FILE})
    del files[ART2 + ".asc"]
    world.revision("2.0.0", files)
    world.work()
    world.transition("2.0.0", Phase.CHECKS, "bob")
    report = world.report("2.0.0")
    assert report.state == "done" and report.blocked
    blockers = {(r.check, r.path) for r in report.results if r.status == "blocker"}
    assert ("signatures", ART2) in blockers and ("paths", ART2) in blockers
    assert ("compiled_code", f"{ART2}!/lib/Helper.class") in blockers
    assert world.phase("2.0.0") == "checks"  # a blocker: it waits for the RM
    with pytest.raises(Conflict) as caught:
        world.transition("2.0.0", Phase.CANDIDATE)
    assert f"{report.summary['blocker']} blockers stand" in caught.value.message
    assert "/revisions/1/checks" in (caught.value.hint or "")
    # Ignore the compiled-code and paths blockers; the signature blocker cannot be.
    with pytest.raises(ValidationError, match="'signatures' can never be ignored"):
        world.set_policy({"ignores": [{"check": "signatures", "status": "blocker", "reason": "x"}]})
    rules = [
        {"check": "compiled_code", "path": "*!/lib/*.class", "reason": "test fixture classes"},
        {"check": "paths", "path": ART2, "reason": "signed elsewhere"},
        {"check": "signatures", "reason": "no signature needed"},  # ineffective on blockers
    ]
    world.set_policy({"ignores": rules}, reason="known files")
    report = world.report("2.0.0")
    ignored = [r for r in report.results if r.ignored is not None]
    assert {r.check for r in ignored} == {"compiled_code", "paths"}
    assert all(r.status == "note" and r.ignored.original_status == "blocker" for r in ignored)
    assert ignored[0].ignored.by == "alice"
    assert [r.check for r in report.results if r.status == "blocker"] == ["signatures"]
    assert report.stale == 0  # ignore rules are not an input of the checks
    with pytest.raises(Conflict, match="1 blocker stands"):
        world.transition("2.0.0", Phase.CANDIDATE)
    event = world.events("project.policy_changed")[-1]
    assert event.actor == "alice" and event.data["reason"] == "known files"
    assert event.data["ignores_added"][0]["check"] == "compiled_code"
    assert event.data["ignores_removed"] == [] and event.data["changed"] == {}


def test_an_ignore_rule_lets_a_waiting_release_move_on(world: World) -> None:
    world.release("3.0.0")
    world.revision("3.0.0", good_files("3.0.0", **{"lib/Helper.class": CLASS_FILE}))
    world.work()
    world.transition("3.0.0", Phase.CHECKS, "bob")
    assert world.phase("3.0.0") == "checks"
    rule = {"check": "compiled_code", "path": "*.class", "reason": "generated by the test"}
    world.set_policy({"ignores": [rule]})
    assert world.phase("3.0.0") == "candidate"
    # Removing the rule puts the blocker back: no vote.
    world.set_policy({}, reason="no more exceptions")
    removed = world.events("project.policy_changed")[-1].data
    assert removed["ignores_removed"] == [{**rule, "status": None}]
    with pytest.raises(Conflict, match="cannot move to 'vote': 1 blocker stands"):
        world.transition("3.0.0", Phase.VOTE)


def test_a_policy_change_requeues_the_runs_it_affects(world: World) -> None:
    """Issue 11, item 7: changing a field the checks read redoes those runs by itself."""
    world.release("4.0.0")
    world.revision("4.0.0", good_files("4.0.0", **{"lib/Helper.class": CLASS_FILE}))
    world.work()
    world.transition("4.0.0", Phase.CHECKS, "bob")
    assert world.phase("4.0.0") == "checks"  # the compiled-code blocker
    world.set_policy({"compiled_code": "warning"}, reason="binary test data is fine")
    queued = world.events("checks.queued")[-1].data
    assert queued["rerun"] is True and queued["runs"] == 1 and queued["queued"] == 1
    report = world.report("4.0.0")
    assert report.stale == 0 and report.state != "done"
    with pytest.raises(Conflict, match="not finished"):
        world.transition("4.0.0", Phase.CANDIDATE)
    world.work()
    report = world.report("4.0.0")
    assert report.stale == 0 and not report.blocked
    assert any(r.check == "compiled_code" and r.status == "warning" for r in report.results)
    assert world.phase("4.0.0") == "candidate"  # the rerun finished clear, in phase checks
    # Ignore rules are no input: they requeue nothing.
    count = len(world.events("checks.queued"))
    rule = {"check": "paths", "path": "*.zip", "reason": "none here"}
    world.set_policy({"compiled_code": "warning", "ignores": [rule]}, reason="a rule")
    assert len(world.events("checks.queued")) == count
    with transaction(world.factory) as session, pytest.raises(Forbidden):
        reader = Principal(name="eve", user_id=99, is_admin=False, token_role=Role.ADMIN)
        service.rerun_checks(Store(session, reader), PROJECT, "4.0.0", None)
    with transaction(world.factory) as session:
        again = service.rerun_checks(Store(session, world.principal("bob")), PROJECT, "4.0.0", None)
    assert again.runs == 0  # nothing changed


def test_a_check_that_raises_is_a_blocker(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(compiled, "run", explode)
    world.release("5.0.0")
    world.revision("5.0.0", good_files("5.0.0"))
    world.work()
    report = world.report("5.0.0")
    [run] = [r for r in report.runs if r.check == "compiled_code"]
    assert run.state == "error" and "boom" in (run.error or "")
    [result] = [r for r in report.results if r.check == "compiled_code"]
    assert result.status == "blocker" and result.data["could_not_run"] is True
    assert report.state == "done" and report.blocked
    # A rerun redoes the run that could not run.
    monkeypatch.undo()
    with transaction(world.factory) as session:
        summary = service.rerun_checks(
            Store(session, world.principal("bob")), PROJECT, "5.0.0", None
        )
    assert summary.runs == 1 and summary.queued == 1
    world.work()
    assert not world.report("5.0.0").blocked


def test_a_task_that_failed_for_good_closes_its_run(world: World) -> None:
    world.release("6.0.0")
    world.revision("6.0.0", {"README": b"hello\n"})
    with transaction(world.factory) as session:
        session.execute(
            update(models.Task)
            .where(models.Task.args["check_id"].as_string() == "keys")
            .values(state="failed", error="the worker was killed")
        )
    report = world.report("6.0.0")
    [run] = [r for r in report.runs if r.check == "keys"]
    assert run.state == "error" and "the worker was killed" in (run.error or "")
    assert any(r.check == "keys" and r.data.get("could_not_run") for r in report.results)


def test_policy_documents_are_validated(world: World) -> None:
    cases = [
        ({"compiled_code": "sometimes"}, "compiled_code"),
        ({"archive": {"max_members": 0}}, "archive.max_members"),
        ({"podlin": True}, "podlin"),
        ({"ignores": [{"check": "pathz", "reason": "typo"}]}, "no check 'pathz'"),
        ({"ignores": [{"check": "paths", "reason": "   "}]}, "ignores.0.reason"),
        ({"ignores": [{"check": "paths"}]}, "ignores.0.reason"),
        ({"ignores": [{"check": "checksums", "status": "blocker", "reason": "r"}]}, "never"),
    ]
    for document, words in cases:
        with pytest.raises(ValidationError, match=words.replace(".", r"\.")):
            world.set_policy(document)
    with pytest.raises(Forbidden, match="'pmc'"):
        world.set_policy({"podling": True}, who="bob")
    assert world.events("project.policy_changed") == []
    world.set_policy({"podling": True, "license_header_excludes": ["gen/*"]}, reason="incubating")
    with world.factory() as session:
        out = policy.get_policy(session, PROJECT)
    assert out.policy["podling"] is True and out.policy["archive"]["max_members"] == 100_000
    assert out.updated_by == "alice" and out.updated_at is not None
    changed = world.events("project.policy_changed")[-1].data["changed"]
    assert changed["podling"] == {"from": False, "to": True}
    # The same document again changes nothing and records nothing.
    world.set_policy({"podling": True, "license_header_excludes": ["gen/*"]})
    assert len(world.events("project.policy_changed")) == 1


def test_the_gate_needs_a_revision(world: World) -> None:
    world.release("7.0.0")
    world.transition("7.0.0", Phase.CHECKS, "bob")
    with pytest.raises(Conflict, match="no revision"):
        world.transition("7.0.0", Phase.CANDIDATE)
