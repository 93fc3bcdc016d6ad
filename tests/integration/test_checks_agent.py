"""Checks in a real agent (two worker processes): real signed artifacts, the gate, ignore rules,
cache reuse, SBOM download, the event stream, and a compression bomb the agent survives."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from click.testing import CliRunner

from shared.cli import main as atr
from shared.client import AgentClient
from shared.lifecycle import Phase
from shared.protocol import Event, EventKind, Scope
from shared.protocol.checks import CheckReport
from shared.sbom.validate import validate_cyclonedx
from tests.support.agent import PROJECT, AgentProcess
from tests.support.checks_release import CLASS_FILE, release_files, source_archive
from tests.unit.checks import hostile

pytestmark = pytest.mark.integration

WAIT = 120.0


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """One agent with two workers for the module (check tasks spread over them); its operator
    lets projects raise the archive ratio far (the compression bomb test needs it)."""
    process = AgentProcess(
        tmp_path_factory.mktemp("checks-agent"), workers=2, config={"archive_max_ratio": 200_000}
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def new_version() -> str:
    return f"1.{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"


def artifact_name(version: str) -> str:
    return f"apache-acme-lib-{version}-src.tar.gz"


def good_files(agent: AgentProcess, version: str, **extra: bytes) -> dict[str, bytes]:
    root = f"apache-acme-lib-{version}-src"
    data = source_archive(root, extra=extra)
    return release_files(artifact_name(version), data, agent.committer.key)


def put_revision(
    c: httpx.Client, version: str, files: dict[str, bytes], *, base: int | None = None
) -> int:
    shas = {}
    for name, data in files.items():
        r = c.post("/uploads", content=data, headers={"X-Atr-Filename": name})
        assert r.status_code == 201, r.text
        shas[name] = r.json()["sha256"]
    base_path = f"/projects/{PROJECT}/releases/{version}"
    r = c.post(f"{base_path}/revisions", json={"files": shas, "base": base})
    assert r.status_code == 201, r.text
    return int(r.json()["number"])


def new_release(c: httpx.Client, files: dict[str, bytes], version: str) -> None:
    r = c.post(f"/projects/{PROJECT}/releases", json={"version": version})
    assert r.status_code == 201, r.text
    put_revision(c, version, files)


def wait_done(c: httpx.Client, version: str, number: int | str = "latest") -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        r = c.get(f"/projects/{PROJECT}/releases/{version}/revisions/{number}/checks")
        assert r.status_code == 200, r.text
        report = r.json()
        if report["state"] == "done":
            CheckReport.model_validate(report)
            return dict(report)
        time.sleep(0.2)
    pytest.fail(f"the checks of {version} did not finish in {WAIT} s")


def wait_phase(c: httpx.Client, version: str, phase: str) -> None:
    deadline = time.monotonic() + 30
    while c.get(f"/projects/{PROJECT}/releases/{version}").json()["phase"] != phase:
        assert time.monotonic() < deadline, f"{version} did not reach {phase}"
        time.sleep(0.1)


def transition(c: httpx.Client, version: str, to: str) -> httpx.Response:
    return c.post(f"/projects/{PROJECT}/releases/{version}/transition", json={"to": to})


def put_policy(c: httpx.Client, document: dict[str, Any], reason: str = "") -> httpx.Response:
    return c.put(f"/projects/{PROJECT}/policy", json={"policy": document, "reason": reason})


async def test_a_signed_release_is_checked_streamed_and_goes_to_the_vote(
    agent: AgentProcess, tmp_path: Path
) -> None:
    version = new_version()
    art = artifact_name(version)
    folder = tmp_path / "dist"
    folder.mkdir()
    for name, data in good_files(agent, version).items():
        (folder / name).write_bytes(data)
    seen: list[Event] = []
    async with (
        AgentClient(agent.url, token=agent.committer_token) as bob,
        AgentClient(agent.url, token=agent.pmc_token) as alice,
    ):
        await bob.create_release(PROJECT, version)
        since = (await bob.health()).last_event_id
        async with bob.stream(Scope(project=PROJECT, version=version), since=since) as stream:
            names = sorted(p.name for p in folder.iterdir())
            revision = await bob.upload_files(PROJECT, version, [folder / n for n in names])
            moved = await bob.transition(PROJECT, version, Phase.CHECKS, "ready")
            assert moved.phase in (Phase.CHECKS, Phase.CANDIDATE)

            async def follow() -> None:
                async for event in stream:
                    seen.append(event)
                    if event.kind == EventKind.PHASE_CHANGED and event.data["to"] == "candidate":
                        return

            await asyncio.wait_for(follow(), WAIT)
            # The same report over the websocket's command channel.
            by_ws = await stream.command("get_checks", {"project": PROJECT, "version": version})
            assert by_ws["state"] == "done" and by_ws["blocked"] is False
            policy = await stream.command("get_policy", {"project": PROJECT})
            assert policy["policy"]["compiled_code"] == "blocker"
        kinds = [e.kind for e in seen]
        assert EventKind.CHECKS_QUEUED in kinds and EventKind.SBOM_STORED in kinds
        finished = [e for e in seen if e.kind == EventKind.CHECK_FINISHED]
        assert len(finished) == 9
        sig = next(e for e in finished if e.data["check"] == "signatures")
        assert sig.data["artifact"] == art and sig.data["worst"] == "pass"
        # the event is small (counts and where the report is); the details are in the report
        assert sig.data["result_count"] >= 1 and "results" not in sig.data
        assert sig.data["report"] == (
            f"/api/v1/projects/{PROJECT}/releases/{version}/revisions/{revision.number}/checks"
        )
        assert max(len(e.model_dump_json()) for e in finished) < 1024
        [done] = [e for e in seen if e.kind == EventKind.CHECKS_DONE]
        assert done.data["blocked"] is False and done.data["summary"]["blocker"] == 0
        assert (seen[-1].actor, seen[-1].data["from"]) == ("atr-agent", "checks")

        report = await bob.get_checks(PROJECT, version, revision.number)
        assert report.state == "done" and not report.blocked and report.summary["blocker"] == 0
        signed = next(r for r in report.results if r.check == "signatures" and r.artifact == art)
        assert signed.data["fingerprints"] == [agent.committer.key.fingerprint]
        assert {r.task_id is not None for r in report.runs} == {True}
        # The SBOM is downloadable and valid CycloneDX 1.6 JSON.
        [sbom] = await bob.list_sboms(PROJECT, version)
        assert sbom.artifact == art
        saved = await bob.download_sbom(PROJECT, version, revision.number, art, tmp_path)
        assert saved.name == f"{art}.cdx.json"
        text = saved.read_text()
        assert validate_cyclonedx(text, strict=True) == []
        assert json.loads(text)["specVersion"] == "1.6"
        # The gate is open: the PMC starts the vote.
        vote = await alice.start_vote(PROJECT, version)
        assert vote.tally.outcome == "open"
        assert (await alice.get_release(PROJECT, version)).phase is Phase.VOTE
    args = ["--agent", agent.url, "--token", agent.committer_token, "checks", PROJECT, version,
            "--wait"]  # fmt: skip
    shown = await asyncio.to_thread(CliRunner().invoke, atr, args)
    assert shown.exit_code == 0, shown.output
    assert "0 blocker" in shown.output and "passing results not shown" in shown.output


def test_blockers_stop_the_release_and_ignore_rules(agent: AgentProcess) -> None:
    version = new_version()
    art = artifact_name(version)
    files = good_files(agent, version, **{"lib/Helper.class": CLASS_FILE})
    del files[art + ".asc"]
    with agent.client(agent.committer_token) as bob, agent.client(agent.pmc_token) as alice:
        new_release(bob, files, version)
        report = wait_done(bob, version)
        assert report["blocked"]
        blockers = {(r["check"], r["path"]) for r in report["results"] if r["status"] == "blocker"}
        assert {("signatures", art), ("paths", art)} <= blockers
        assert ("compiled_code", f"{art}!/lib/Helper.class") in blockers
        assert transition(bob, version, "checks").json()["phase"] == "checks"
        r = transition(alice, version, "candidate")
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["code"] == "conflict"
        assert f"{len(blockers)} blockers stand in the checks of revision 1" in body["message"]
        assert f"/releases/{version}/revisions/1/checks" in body["hint"]
        # Blockers of signatures cannot be ignored; a committer cannot change the policy.
        refused = put_policy(alice, {"ignores": [{"check": "signatures", "status": "blocker",
                                                  "reason": "x"}]})  # fmt: skip
        assert refused.status_code == 400 and "'signatures' can never be ignored" in refused.text
        bad = put_policy(alice, {"archive": {"max_ratio": "lots"}})
        assert bad.status_code == 400 and "archive.max_ratio" in bad.json()["message"]
        assert put_policy(bob, {}).status_code == 403
        rules = [
            {"check": "compiled_code", "path": "*!/lib/*.class", "reason": "test classes"},
            {"check": "paths", "path": art, "reason": "signed elsewhere"},
            {"check": "signatures", "reason": "does not apply to blockers"},
        ]
        saved = put_policy(alice, {"ignores": rules}, reason="known files")
        assert saved.status_code == 200, saved.text
        assert saved.json()["updated_by"] == agent.pmc.name
        report = bob.get(f"/projects/{PROJECT}/releases/{version}/revisions/1/checks").json()
        standing = [r for r in report["results"] if r["status"] == "blocker"]
        assert [r["check"] for r in standing] == ["signatures"]
        assert report["ignored"] >= 2
        r = transition(alice, version, "candidate")
        assert r.status_code == 409 and "1 blocker stands" in r.json()["message"]
        events = bob.get("/events", params={"project": PROJECT, "limit": 1000}).json()["events"]
        changed = [e for e in events if e["kind"] == "project.policy_changed"][-1]
        assert changed["data"]["reason"] == "known files"
        assert len(changed["data"]["ignores_added"]) == 3
        assert put_policy(alice, {}, reason="clean up").status_code == 200


def test_an_ignore_rule_clears_a_blocker_and_its_removal_stops_the_vote(
    agent: AgentProcess, tmp_path: Path
) -> None:
    version = new_version()
    files = good_files(agent, version, **{"lib/Helper.class": CLASS_FILE})
    with agent.client(agent.committer_token) as bob, agent.client(agent.pmc_token) as alice:
        new_release(bob, files, version)
        assert wait_done(bob, version)["blocked"]
        assert transition(bob, version, "checks").json()["phase"] == "checks"
        policy_file = tmp_path / "policy.toml"
        policy_file.write_text(
            '[[ignores]]\ncheck = "compiled_code"\npath = "*.class"\n'
            'reason = "test fixtures, not shipped code"\n'
        )
        cli = CliRunner().invoke(
            atr,
            ["--agent", agent.url, "--token", agent.pmc_token, "policy", "set", PROJECT,
             str(policy_file), "--reason", "fixtures", "--json"],
        )  # fmt: skip
        assert cli.exit_code == 0, cli.output
        assert json.loads(cli.output)["policy"]["ignores"][0]["check"] == "compiled_code"
        # The release waiting in 'checks' moves on once nothing blocks it.
        wait_phase(bob, version, "candidate")
        shown = CliRunner().invoke(
            atr, ["--agent", agent.url, "--token", agent.pmc_token, "policy", "show", PROJECT]
        )
        assert shown.exit_code == 0 and "test fixtures" in shown.output
        assert put_policy(alice, {}, reason="no exceptions any more").status_code == 200
        r = transition(alice, version, "vote")
        assert r.status_code == 409, r.text
        assert "cannot move to 'vote': 1 blocker stands" in r.json()["message"]
        cli = CliRunner().invoke(
            atr, ["--agent", agent.url, "--token", agent.committer_token, "checks", PROJECT,
                  version, "--json"],
        )  # fmt: skip
        assert cli.exit_code == 1 and json.loads(cli.output)["blocked"] is True


def test_an_unrelated_file_reruns_only_what_reads_it(agent: AgentProcess) -> None:
    version = new_version()
    with agent.client(agent.committer_token) as bob:
        new_release(bob, good_files(agent, version), version)
        first = wait_done(bob, version, 1)
        assert not first["blocked"] and len(first["runs"]) == 9
        number = put_revision(bob, version, {"RELEASE-NOTES.txt": b"notes\n"}, base=1)
        events = bob.get(
            "/events", params={"project": PROJECT, "version": version, "limit": 1000}
        ).json()["events"]
        queued = [e for e in events if e["kind"] == "checks.queued"][-1]
        assert queued["data"] == {"revision": 2, "runs": 9, "queued": 2, "reused": 7,
                                  "rerun": False}  # fmt: skip
        second = wait_done(bob, version, number)
        rerun = sorted(r["check"] for r in second["runs"] if not r["reused"])
        assert rerun == ["keys", "paths"]
        assert all(r["task_id"] is None for r in second["runs"] if r["reused"])
        sboms = bob.get(f"/projects/{PROJECT}/releases/{version}/revisions/2/sboms").json()
        assert [s["artifact"] for s in sboms] == [artifact_name(version)]
        # Nothing changed since: a rerun queues nothing.
        r = bob.post(f"/projects/{PROJECT}/releases/{version}/revisions/2/checks/rerun")
        assert r.status_code == 200 and r.json()["state"] == "done"


class _Watch(threading.Thread):
    """Polls /health and samples the memory of the agent and its workers until stopped."""

    def __init__(self, agent: AgentProcess) -> None:
        super().__init__(daemon=True)
        self.agent = agent
        self.stop = threading.Event()
        self.slowest = 0.0
        self.failures: list[str] = []
        self.peak_rss = 0
        self.polls = 0

    def run(self) -> None:
        root = psutil.Process(self.agent.pid)
        with httpx.Client(base_url=self.agent.api_url, timeout=10) as c:
            while not self.stop.is_set():
                start = time.monotonic()
                try:
                    if c.get("/health").status_code != 200:
                        self.failures.append("health not 200")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.slowest = max(self.slowest, time.monotonic() - start)
                self.polls += 1
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
                self.stop.wait(0.05)


def test_a_compression_bomb_leaves_the_agent_healthy(agent: AgentProcess, tmp_path: Path) -> None:
    version = new_version()
    art = artifact_name(version)
    root = f"apache-acme-lib-{version}-src"
    bomb = hostile.gzip_bomb(tmp_path / art, root, 768 << 20).read_bytes()
    assert len(bomb) < 2 << 20
    files = release_files(art, bomb, agent.committer.key)
    # Past the ratio limit the reading would stop after a few MiB; with it raised, the
    # workers decompress 256 MiB (the size limit) while /health is polled.
    limits = {"archive": {"max_ratio": 100_000, "max_uncompressed_bytes": 256 << 20}}
    watch = _Watch(agent)
    with agent.client(agent.pmc_token) as alice:
        assert put_policy(alice, limits, reason="bomb test").status_code == 200
        watch.start()
        try:
            with agent.client(agent.committer_token) as bob:
                new_release(bob, files, version)
                report = wait_done(bob, version)
        finally:
            watch.stop.set()
            watch.join(10)
            assert put_policy(alice, {}, reason="defaults again").status_code == 200
    print(  # shown with -s
        f"bomb: {watch.polls} /health polls, slowest {watch.slowest * 1000:.0f} ms, "
        f"peak RSS of one agent process {watch.peak_rss >> 20} MiB"
    )
    assert watch.polls >= 1 and not watch.failures
    assert watch.slowest < 5.0, f"/health took {watch.slowest:.1f} s while the checks ran"
    assert watch.peak_rss < 400 << 20, f"a process of the agent grew to {watch.peak_rss >> 20} MiB"
    archive = [r for r in report["results"] if r["check"] == "archives"]
    codes = {r["data"].get("code") for r in archive if r["status"] == "blocker"}
    assert codes == {"max_uncompressed_bytes"}, archive
    assert report["blocked"] and all(r["state"] == "done" for r in report["runs"])
    # Still serving, and still checking.
    assert httpx.get(f"{agent.api_url}/health", timeout=5).status_code == 200
    other = new_version()
    with agent.client(agent.committer_token) as bob:
        new_release(bob, good_files(agent, other), other)
        assert not wait_done(bob, other)["blocked"]
