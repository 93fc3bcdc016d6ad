"""Maven releases from the vote to ``announced``: Nexus staging, a WebDAV repository, the
Central Portal and Artifactory; a failed vote; registries that fail; secrets kept.

Real parts: one agent with two workers (module scope), GnuPG for the signed plan, Debian's
Apache httpd with mod_dav as the plain Maven repository (``maven``, staging to another
folder). Test servers to the published APIs (tests/support/fakes): Nexus 2 staging
(``nexus``), the Central Portal with Maven Central behind it (``maven-central``),
Artifactory (``artifactory``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.distribute_support import add_voters, status
from tests.integration.maven_support import (
    PASSWORD,
    USER,
    candidate,
    channel_of,
    maven_release,
    passed_maven_release,
    set_channels,
    set_credential,
    stage,
    start_distribution,
    vote,
    wait_settled,
)
from tests.integration.vote_support import Member, client, events, wait_phase
from tests.support.agent import PROJECT, AgentProcess
from tests.support.fakes.artifactory import FakeArtifactory
from tests.support.fakes.central_portal import FakeCentralPortal
from tests.support.fakes.nexus2 import FakeNexus2
from tests.support.fakes.server import ServedApp
from tests.support.webdav import APACHE, ApacheDav

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(APACHE).exists(), reason="needs Debian's apache2 (./dev test)"),
]

LAYOUT = "org/apache/acme/acme-lib"


@dataclass
class World:
    agent: AgentProcess
    voters: list[Member]
    dav: ApacheDav
    nexus: FakeNexus2
    nexus_server: ServedApp
    portal: FakeCentralPortal
    portal_server: ServedApp
    jfrog: FakeArtifactory
    jfrog_server: ServedApp

    def channels(self, *names: str) -> list[dict]:
        every = {
            "asf-nexus": {
                "name": "asf-nexus",
                "kind": "nexus",
                "url": self.nexus_server.url,
                "files": ["maven/*"],
                "credential": "asf-nexus",
                "options": {"profile_id": self.nexus.profile_id, "poll_seconds": "0.1"},
            },
            "maven": {
                "name": "maven",
                "kind": "maven",
                "url": f"{self.dav.url}/maven2",
                "staging_url": f"{self.dav.url}/staging",
                "files": ["maven/*"],
                "credential": "dav",
            },
            "central": {
                "name": "central",
                "kind": "maven-central",
                "url": self.portal_server.url,
                "files": ["maven/*"],
                "credential": "central",
                "options": {
                    "download_url": f"{self.portal_server.url}/maven2",
                    "poll_seconds": "0.1",
                },
            },
            "jfrog": {
                "name": "jfrog",
                "kind": "artifactory",
                "url": f"{self.jfrog_server.url}/artifactory/libs-release-local",
                "staging_url": f"{self.jfrog_server.url}/artifactory/libs-staging-local",
                "files": ["maven/*"],
                "credential": "jfrog",
            },
        }
        return [every[n] for n in names]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    nexus = FakeNexus2(username=USER, password=PASSWORD, transition_seconds=0.3)
    portal = FakeCentralPortal(username=USER, password=PASSWORD, step_seconds=0.2)
    jfrog = FakeArtifactory(username=USER, password=PASSWORD)
    servers = [ServedApp(f.app).start() for f in (nexus, portal, jfrog)]
    nexus.base_url, jfrog.base_url = servers[0].url, servers[2].url
    dav = ApacheDav(users={USER: PASSWORD}).start()
    agent = AgentProcess(
        tmp_path_factory.mktemp("maven-agent"),
        workers=2,
        config={
            "vote_min_hours_floor": 2.0 / 3600,
            "scheduler_interval_seconds": 0.5,
            "announce_delay_minutes": 0,
            "publish_retry_seconds": 0.2,
        },
    ).start()
    try:
        for name, kind in (
            ("asf-nexus", "nexus"),
            ("dav", "maven"),
            ("central", "maven-central"),
            ("jfrog", "artifactory"),
        ):
            set_credential(agent, name, USER, PASSWORD, [kind])
        yield World(
            agent, add_voters(agent), dav, nexus, servers[0], portal, servers[1], jfrog, servers[2]
        )
    finally:
        agent.stop()
        dav.stop()
        for server in servers:
            server.stop()


def _bytes(url: str) -> bytes:
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200, f"{url}: {r.status_code}"
    return r.content


def _counts(w: World) -> dict[str, int]:
    """What every server has been asked to write so far."""
    return {
        "dav": sum(1 for m, _p, _s in w.dav.access_log() if m in ("PUT", "MKCOL", "DELETE")),
        "nexus": w.nexus_server.count("PUT", ".") + w.nexus_server.count("POST", "."),
        "portal": w.portal_server.count("POST", "/upload|/deployment/"),
        "jfrog": w.jfrog_server.count("PUT", ".") + w.jfrog_server.count("DELETE", "."),
    }


def test_stage_vote_release_verify_announce(world: World, tmp_path: Path) -> None:
    w, agent, rm = world, world.agent, world.agent.committer
    set_channels(agent, w.channels("asf-nexus", "maven", "central", "jfrog"))
    files = maven_release(tmp_path, "1.0.0", sign=rm.key.sign)
    maven = {p: f for p, f in files.items() if p.startswith("maven/")}

    # staged during the vote: a closed Nexus staging repository, the staging folders
    revision = passed_maven_release(agent, w.voters, files, "1.0.0", stage_it=True)
    staged = status(agent, rm.token, "1.0.0")
    (repo,) = w.nexus.repos.values()
    assert repo.type == "closed" and repo.description == "Acme Library 1.0.0-rc1 [ATR acme-lib]"
    assert repo.id == "orgapacheacme-1001" and w.nexus.started == 1
    for path, local in maven.items():
        data = local.read_bytes()
        assert repo.files[path[6:]] == data
        assert _bytes(f"{w.dav.url}/staging/{path[6:]}") == data
        assert w.jfrog.repos["libs-staging-local"][path[6:]] == data
        if not path.endswith((".asc", ".sha512")):
            assert repo.files[path[6:] + ".sha1"].decode() == hashlib.sha1(data).hexdigest()
            assert (
                _bytes(f"{w.dav.url}/staging/{path[6:]}.md5").decode()
                == hashlib.md5(data).hexdigest()
            )
    assert w.portal.deployments == 0  # the Portal has no staging
    urls = {
        f["path"]: f["url"]
        for c in staged.get("channels", [])
        for f in c["files"]
        if c["name"] == "asf-nexus"
    }
    jar = f"maven/{LAYOUT}/1.0.0/acme-lib-1.0.0.jar"
    assert urls[jar] == f"{w.nexus_server.url}/content/repositories/{repo.id}/{jar[6:]}"

    # approved and distributed: the staged repository is released, not staged again
    start_distribution(agent, "1.0.0")
    done = wait_settled(agent, "1.0.0")
    assert done["state"] == "verified", json.dumps(done, indent=1)
    assert {c["name"] for c in done["channels"]} == {
        "dist",
        "asf-nexus",
        "maven",
        "central",
        "jfrog",
    }
    for channel in done["channels"]:
        assert channel["state"] == "done"
        for file in channel["files"]:
            assert file["state"] == "done" and file["verified"], file
    assert w.nexus.started == 1 and not w.nexus.repos  # released, then dropped by Nexus
    # the staging's jar and pom with their .sha1 and .md5, their .asc and .sha512: once each
    assert sum(w.nexus.stores.values()) == 10
    assert w.portal.deployments == 1
    assert w.jfrog.checksum_deploys == 6  # Artifactory held the staged bytes: no upload
    assert sum(w.jfrog.uploads.values()) == 6  # the staging's
    for path, local in maven.items():
        data = local.read_bytes()
        assert w.nexus.releases[path[6:]] == data
        assert _bytes(f"{w.dav.url}/maven2/{path[6:]}") == data
        assert w.portal.central[path[6:]] == data
        assert w.jfrog.repos["libs-release-local"][path[6:]] == data
        if not path.endswith((".asc", ".sha512")):
            assert (
                _bytes(f"{w.dav.url}/maven2/{path[6:]}.sha1").decode()
                == hashlib.sha1(data).hexdigest()
            )
            assert w.portal.central[path[6:] + ".md5"].decode() == hashlib.md5(data).hexdigest()
    assert w.dav.puts(f"/maven2/{LAYOUT}/1.0.0/acme-lib-1.0.0.jar") == 1
    central = channel_of(done, "central")
    url = next(f["url"] for f in central["files"] if f["path"] == jar)
    assert url.startswith(f"{w.portal_server.url}/maven2/{jar[6:]}#deployment=")

    # starting again changes nothing anywhere
    before = _counts(w)
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 200 and r.json()["state"] == "verified", r.text
    assert _counts(w) == before

    # announced
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/announce", json={})
        assert r.status_code == 200, r.text
    wait_phase(agent, rm.token, "1.0.0", "announced")
    mails = {m["Subject"]: m for m in agent.outbox()}
    (summary,) = [m.get_content() for s, m in mails.items() if s.startswith("[DISTRIBUTED]")]
    assert "asf-nexus" in summary and "central" in summary and "jfrog" in summary
    assert "[ANNOUNCE] Apache Acme Library 1.0.0 released" in mails
    assert revision["number"] >= 1
    assert_secret_kept(agent)


def test_a_failed_vote_takes_the_candidate_off_the_channels(world: World, tmp_path: Path) -> None:
    w, agent, rm = world, world.agent, world.agent.committer
    set_channels(agent, w.channels("asf-nexus", "maven", "jfrog"))
    files = maven_release(tmp_path, "1.1.0", sign=rm.key.sign)
    revision = candidate(agent, "1.1.0", files)
    stage(agent, "1.1.0")
    wait_phase(agent, rm.token, "1.1.0", "staged", timeout=120)
    (repo,) = [r for r in w.nexus.repos.values() if "1.1.0-rc1" in r.description]
    assert repo.type == "closed"
    jar = f"{LAYOUT}/1.1.0/acme-lib-1.1.0.jar"
    assert w.dav.path(f"staging/{jar}").exists() and jar in w.jfrog.repos["libs-staging-local"]

    vote(agent, w.voters, "1.1.0", revision, value="-1")
    wait_phase(agent, rm.token, "1.1.0", "compose", timeout=60)  # failed, back to compose

    def cleaned() -> bool:
        return not (
            repo.id in w.nexus.repos
            or w.dav.path(f"staging/{jar}").exists()
            or jar in w.jfrog.repos["libs-staging-local"]
        )

    deadline = time.monotonic() + 60
    while not cleaned() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert repo.id not in w.nexus.repos, "the Nexus staging repository was not dropped"
    assert not w.dav.path(f"staging/{jar}").exists()
    assert not w.dav.path(f"staging/{jar}.sha1").exists()
    assert jar not in w.jfrog.repos["libs-staging-local"]
    assert w.dav.path(f"staging/{LAYOUT}/1.0.0/acme-lib-1.0.0.jar").exists()  # 1.0.0's stays
    logs = [e for e in events(agent, rm.token, version="1.1.0") if e["kind"] == "task.log"]
    assert any(f"dropped {repo.id}" in e["data"]["message"] for e in logs)
    assert_secret_kept(agent)


def test_registry_failures_give_the_documented_state_and_message(
    world: World, tmp_path: Path
) -> None:
    w, agent, rm = world, world.agent, world.agent.committer
    set_credential(agent, "asf-nexus-wrong", USER, "not-the-password", ["nexus"])
    channels = w.channels("asf-nexus", "maven", "central", "jfrog")
    channels[0]["credential"] = "asf-nexus-wrong"  # Nexus answers 401
    set_channels(agent, channels)
    files = maven_release(tmp_path, "1.2.0", sign=rm.key.sign)
    passed_maven_release(agent, w.voters, files, "1.2.0")
    jar = f"{LAYOUT}/1.2.0/acme-lib-1.2.0.jar"
    # the WebDAV repository holds another jar under the name
    other = b"not the voted jar"
    r = httpx.request("MKCOL", f"{w.dav.url}/maven2/{LAYOUT}/1.2.0/", auth=(USER, PASSWORD))
    assert r.status_code == 201, r.text
    r = httpx.put(f"{w.dav.url}/maven2/{jar}", content=other, auth=(USER, PASSWORD))
    assert r.status_code == 201, r.text
    # Artifactory answers 500 twice, then takes the jar
    fault = w.jfrog_server.faults.add(
        "PUT",
        rf"/libs-release-local/{jar}$",
        status=500,
        times=2,
        body="Internal Server Error: storage busy",
    )
    # Maven Central holds the POM's component already, with other bytes
    pom = f"{LAYOUT}/1.2.0/acme-lib-1.2.0.pom"
    w.portal.publish_directly({pom: b"<project>someone else's</project>"})
    deployments = w.portal.deployments

    start_distribution(agent, "1.2.0")
    done = wait_settled(agent, "1.2.0")
    assert done["state"] == "failed"

    nexus = channel_of(done, "asf-nexus")
    assert nexus["state"] == "failed"
    for file in nexus["files"]:
        assert file["state"] == "failed"
        assert "401" in file["error"] and "staging profile" in file["error"], file["error"]
    maven = channel_of(done, "maven")
    failed = {f["path"]: f for f in maven["files"] if f["state"] == "failed"}
    assert list(failed) == [f"maven/{jar}"]
    assert "holds other bytes than" in failed[f"maven/{jar}"]["error"]
    assert "refusing to overwrite" in failed[f"maven/{jar}"]["error"]
    assert _bytes(f"{w.dav.url}/maven2/{jar}") == other  # never overwritten
    jfrog = channel_of(done, "jfrog")
    assert jfrog["state"] == "done" and fault.hits == 2
    assert w.jfrog.uploads[("libs-release-local", jar)] == 1
    assert w.jfrog.repos["libs-release-local"][jar] == files[f"maven/{jar}"].read_bytes()
    central = channel_of(done, "central")
    pom_step = next(f for f in central["files"] if f["path"] == f"maven/{pom}")
    assert pom_step["state"] == "failed"
    assert "holds other bytes" in pom_step["error"]
    assert w.portal.deployments == deployments  # nothing uploaded: the component exists

    logs = [
        e["data"]["message"]
        for e in events(agent, rm.token, version="1.2.0")
        if e["kind"] == "task.log"
    ]
    assert any("500 Internal Server Error: storage busy" in m and "trying again" in m for m in logs)
    mails = [m for m in agent.outbox() if "1.2.0" in str(m["Subject"])]
    failure = "\n".join(m.get_content() for m in mails)
    assert "401" in failure and "refusing to overwrite" in failure

    # the credential fixed, the release manager retries one channel
    channels[0]["credential"] = "asf-nexus"
    set_credential(agent, "asf-nexus-wrong", USER, PASSWORD, ["nexus"])
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.2.0/distribution/channels/asf-nexus/retry")
        assert r.status_code == 200, r.text
    again = wait_settled(agent, "1.2.0")
    assert channel_of(again, "asf-nexus")["state"] == "done"
    assert w.nexus.releases[jar] == files[f"maven/{jar}"].read_bytes()
    assert again["state"] == "failed" and channel_of(again, "maven")["state"] == "failed"
    assert_secret_kept(agent)


def assert_secret_kept(agent: AgentProcess) -> None:
    """The registries' secret (in every form it is sent in) is in no API answer, no line of
    the agent's (and its workers') log, no event and no mail."""
    forms = {
        PASSWORD,
        quote(PASSWORD, safe=""),
        base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
        json.dumps(PASSWORD)[1:-1],
    }
    every: list[dict] = []
    with client(agent, agent.admin.token) as c:
        while page := c.get(
            "/events", params={"since": every[-1]["id"] if every else 0, "limit": 1000}
        ).json()["events"]:
            every += page
    texts = {"log": agent.log_text(), "events": json.dumps(every)}
    texts["mails"] = "\n".join(m.as_string() for m in agent.outbox())
    with client(agent, agent.admin.token) as c:
        for path in (
            "/credentials",
            f"/projects/{PROJECT}/distribution-settings",
            "/tasks",
            "/outbox",
            f"/projects/{PROJECT}/releases",
        ):
            texts[path] = c.get(path).text
        for release in c.get(f"/projects/{PROJECT}/releases").json():
            version = release["version"]
            for kind in ("production", "staging"):
                texts[f"{version} {kind} plan"] = c.get(
                    f"/projects/{PROJECT}/releases/{version}/distribution/plan",
                    params={"kind": kind},
                ).text
            texts[version] = c.get(f"/projects/{PROJECT}/releases/{version}/distribution").text
    assert "asf-nexus" in texts["/credentials"] and any(
        e["kind"] == "credential.set" for e in every
    )
    for where, text in texts.items():
        for form in forms:
            assert form not in text, f"the secret appears in {where}"


def test_the_secret_appears_in_no_answer_log_event_or_mail(world: World) -> None:
    """After every test of the module (each also checks it at its end)."""
    assert_secret_kept(world.agent)
