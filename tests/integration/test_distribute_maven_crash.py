"""``kill -9`` of the agent and its workers in the middle of Maven uploads, then a restart.

Each registry sits behind a throttling TCP proxy (tests/support/throttle.py) so a 1.5 MB jar
takes seconds to go up; the test kills the agent process and every worker (SIGKILL) when
half of the jar went through, cuts the proxies' connections (the bytes the killed processes
had handed to the kernel would otherwise still arrive), restarts the agent on the same
data, and lets it finish.
Then each registry holds each file exactly once (counted at the server: successful PUTs in
Apache's access log, the test servers' store counters), with the right bytes, Nexus opened
one staging repository, and the Central Portal got one deployment.

Real parts: the agent (two workers, 2-second leases so a killed worker's task is claimed
again soon), Apache httpd with mod_dav (kind ``maven``); test servers for Nexus 2, the
Central Portal and Artifactory.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.distribute_support import add_voters
from tests.integration.maven_support import (
    PASSWORD,
    USER,
    candidate,
    kill_agent_and_workers,
    maven_release,
    passed_maven_release,
    set_channels,
    set_credential,
    stage,
    start_distribution,
    wait_settled,
)
from tests.integration.vote_support import Member, events
from tests.support.agent import HOST, AgentProcess
from tests.support.fakes.artifactory import FakeArtifactory
from tests.support.fakes.central_portal import FakeCentralPortal
from tests.support.fakes.nexus2 import FakeNexus2
from tests.support.fakes.server import ServedApp
from tests.support.throttle import ThrottlingProxy
from tests.support.webdav import APACHE, ApacheDav

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(APACHE).exists(), reason="needs Debian's apache2 (./dev test)"),
]

PADDING = 1_500_000
RATE = 300 * 1024
"""Bytes per second up through each proxy: the jar takes about five seconds."""
LAYOUT = "org/apache/acme/acme-lib"


@dataclass
class Crash:
    agent: AgentProcess
    voters: list[Member]
    dav: ApacheDav
    nexus: FakeNexus2
    portal: FakeCentralPortal
    jfrog: FakeArtifactory
    proxies: dict[str, ThrottlingProxy]

    def channel(self, name: str) -> dict:
        p = {k: v.url for k, v in self.proxies.items()}
        return {
            "maven": {"name": "maven", "kind": "maven", "url": f"{p['maven']}/maven2",
                      "staging_url": f"{p['maven']}/staging", "files": ["maven/*"],
                      "credential": "dav"},
            "asf-nexus": {"name": "asf-nexus", "kind": "nexus", "url": p["asf-nexus"],
                          "files": ["maven/*"], "credential": "asf-nexus",
                          "options": {"profile_id": self.nexus.profile_id,
                                      "poll_seconds": "0.1"}},
            "jfrog": {"name": "jfrog", "kind": "artifactory",
                      "url": f"{p['jfrog']}/artifactory/libs-release-local",
                      "staging_url": f"{p['jfrog']}/artifactory/libs-staging-local",
                      "files": ["maven/*"], "credential": "jfrog"},
            "central": {"name": "central", "kind": "maven-central", "url": p["central"],
                        "files": ["maven/*"], "credential": "central",
                        "options": {"download_url": f"{p['central']}/maven2",
                                    "poll_seconds": "0.1"}},
        }[name]  # fmt: skip


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    nexus = FakeNexus2(username=USER, password=PASSWORD, transition_seconds=0.3)
    portal = FakeCentralPortal(username=USER, password=PASSWORD, step_seconds=0.2)
    jfrog = FakeArtifactory(username=USER, password=PASSWORD)
    served = {n: ServedApp(f.app).start() for n, f in
              (("asf-nexus", nexus), ("central", portal), ("jfrog", jfrog))}  # fmt: skip
    dav = ApacheDav(users={USER: PASSWORD}).start()
    ports = {**{n: s.port for n, s in served.items()}, "maven": dav.port}
    proxies = {n: ThrottlingProxy(HOST, port, rate=RATE).start() for n, port in ports.items()}
    nexus.base_url = proxies["asf-nexus"].url
    jfrog.base_url = proxies["jfrog"].url
    agent = AgentProcess(
        tmp_path_factory.mktemp("maven-crash-agent"),
        workers=2,
        config={"vote_min_hours_floor": 2.0 / 3600, "scheduler_interval_seconds": 0.5,
                "announce_delay_minutes": 0, "publish_retry_seconds": 0.2,
                "lease_seconds": 2},
    ).start()  # fmt: skip
    try:
        for name, kind in (("asf-nexus", "nexus"), ("dav", "maven"),
                           ("central", "maven-central"), ("jfrog", "artifactory")):  # fmt: skip
            set_credential(agent, name, USER, PASSWORD, [kind])
        yield Crash(agent, add_voters(agent), dav, nexus, portal, jfrog, proxies)
    finally:
        agent.stop()
        for proxy in proxies.values():
            proxy.stop()
        dav.stop()
        for server in served.values():
            server.stop()


def _jar_size(files: dict[str, Path], version: str) -> int:
    return files[f"maven/{LAYOUT}/{version}/acme-lib-{version}.jar"].stat().st_size


def _cut(c: Crash) -> None:
    """The lines go down with the agent: what its processes had written but the network had
    not delivered yet is lost (tests/support/throttle.py)."""
    for proxy in c.proxies.values():
        proxy.cut()


def _half_way(c: Crash, names: set[str], half: int, timeout: float = 180) -> str:
    """The first of ``names`` whose proxy carries a request with ``half`` bytes sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in sorted(names):
            if c.proxies[name].in_flight() >= half:
                return name
        time.sleep(0.02)
    raise AssertionError(f"no upload to {sorted(names)} got half-way in {timeout} s")


def test_kill_mid_upload_while_staging_then_restart(crash: Crash, tmp_path: Path) -> None:
    c, agent, version = crash, crash.agent, "2.0.0"
    set_channels(agent, [c.channel("maven"), c.channel("asf-nexus"), c.channel("jfrog")])
    files = maven_release(tmp_path, version, sign=agent.committer.key.sign, padding=PADDING)
    maven = {p[6:]: f.read_bytes() for p, f in files.items() if p.startswith("maven/")}
    jar = f"{LAYOUT}/{version}/acme-lib-{version}.jar"
    half = _jar_size(files, version) // 2
    candidate(agent, version, files)
    stage(agent, version)

    def holds_jar(name: str) -> bool:
        if name == "maven":
            return c.dav.path(f"staging/{jar}").exists()
        if name == "asf-nexus":
            return any(jar in r.files for r in c.nexus.repos.values())
        return jar in c.jfrog.repos["libs-staging-local"]

    killed: list[int] = []
    remaining = {"maven", "asf-nexus", "jfrog"}
    while remaining:  # kill when a registry not crashed yet has half of the jar
        trigger = _half_way(c, remaining, half)
        size = 2 * half
        midway = {trigger} | {  # and credit the others caught in the middle of it too
            n for n in remaining if size // 6 <= c.proxies[n].in_flight() <= size * 4 // 5
        }
        killed += kill_agent_and_workers(agent)
        _cut(c)
        for name in midway:
            assert not holds_jar(name), f"{name} has the jar: the crash was not mid-upload"
        remaining -= midway
        agent.start()
    assert len(killed) >= 4  # two workers each time, at least
    staged = wait_settled(agent, version, timeout=240)
    assert staged["state"] == "verified", staged

    # each file exactly once, with its bytes
    (repo,) = [r for r in c.nexus.repos.values() if version in r.description]
    assert c.nexus.started == 1 and repo.type == "closed"
    for path, data in maven.items():
        assert c.dav.path(f"staging/{path}").read_bytes() == data
        assert c.dav.puts(f"/staging/{path}") == 1, path
        assert repo.files[path] == data and c.nexus.stores[(repo.id, path)] == 1, path
        assert c.jfrog.repos["libs-staging-local"][path] == data
        assert c.jfrog.uploads[("libs-staging-local", path)] == 1, path
        if not path.endswith((".asc", ".sha512")):
            sha1 = hashlib.sha1(data).hexdigest()
            assert c.dav.path(f"staging/{path}.sha1").read_text() == sha1
            assert c.dav.puts(f"/staging/{path}.sha1") == 1
            assert repo.files[path + ".sha1"].decode() == sha1
            assert c.nexus.stores[(repo.id, path + ".sha1")] == 1
    assert c.jfrog.overwrites == 0
    # the jar was cut off: Apache answered 400 to the broken PUTs and kept nothing of them
    assert any(m == "PUT" and p == f"/staging/{jar}" and s == 400
               for m, p, s in c.dav.access_log())  # fmt: skip

    # every file's last event says it is done and verified: no event was lost
    last: dict[tuple[str, str], dict] = {}
    for event in events(agent, agent.committer.token, version=version):
        if event["kind"] == "distribution.step":
            last[(event["data"]["channel"], event["data"]["path"])] = event["data"]
    for channel in ("maven", "asf-nexus", "jfrog"):
        for path in maven:
            data = last[(channel, f"maven/{path}")]
            assert data["state"] == "done" and data["verified"], data


def test_kill_mid_bundle_upload_to_the_central_portal(crash: Crash, tmp_path: Path) -> None:
    c, agent, version = crash, crash.agent, "2.1.0"
    set_channels(agent, [c.channel("central")])
    files = maven_release(tmp_path, version, sign=agent.committer.key.sign, padding=PADDING)
    passed_maven_release(agent, c.voters, files, version)
    start_distribution(agent, version)
    assert _half_way(c, {"central"}, _jar_size(files, version) // 2) == "central"
    assert c.portal.deployments == 0 and c.portal.uploads_started == 1
    kill_agent_and_workers(agent)
    _cut(c)
    agent.start()
    done = wait_settled(agent, version, timeout=240)
    assert done["state"] == "verified", done
    assert c.portal.uploads_started == 2  # the cut-off upload, and one complete
    assert c.portal.deployments == 1
    for path, local in files.items():
        if path.startswith("maven/"):
            assert c.portal.central[path[6:]] == local.read_bytes()
            r = httpx.get(f"{c.proxies['central'].url}/maven2/{path[6:]}", timeout=30)
            assert r.content == local.read_bytes()
