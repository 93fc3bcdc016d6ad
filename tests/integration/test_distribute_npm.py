"""Releases onto npm channels, against a real verdaccio (the npm registry protocol).

Real parts: an agent with two workers; verdaccio 6.8.0 on Node 20 (tests/support/node)
with users made through its API; npm installing what was staged; a reverse proxy in
front of verdaccio that counts every publish (and fails or holds some on purpose); GnuPG
for the signed plan; the embedded Subversion dist repository; the file outbox.

One agent serves the module; each test is one release:

* 1.0.0 — staged as ``1.0.0-rc1`` under the dist-tag ``rc`` during its vote (``npm
  install acme-lib@rc`` works), voted, approved, published as ``1.0.0`` (``latest``),
  verified, announced; starting it again changes nothing anywhere.
* 1.1.0 — three packages, three channels, three registry answers: 500 twice then 201
  (done), a bad token (401, failed, not retried, then fixed and retried), a version
  already published with another tarball (failed, never overwritten).
* 1.2.0 — verdaccio accepts the publish, and the agent and its workers are killed before
  they hear of it: after a restart the agent finds the version there with the right
  integrity and publishes nothing again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent.distribute.channels.npm import sha512_integrity
from tests.integration.distribute_support import add_voters, wait_distribution
from tests.integration.registry_support import (
    LEASE_SECONDS,
    assert_no_secret,
    channel,
    current_status,
    distribute,
    kill_with_workers,
    registry_agent,
    release_with,
    set_channels,
    set_credential,
    step_events,
    task_lines,
    wait_mails,
)
from tests.integration.vote_support import Member, client, wait_phase
from tests.support.agent import PROJECT, AgentProcess
from tests.support.packages import npm_tarball
from tests.support.proxy import RegistryProxy
from tests.support.verdaccio import Verdaccio

pytestmark = pytest.mark.integration

PASSWORD = "verdaccio-Password-5e0c1a"
WRONG_TOKEN = "bm90LWEtdG9rZW4tYXQtYWxsLWQ4YzM="


@dataclass
class World:
    agent: AgentProcess
    voters: list[Member]
    npm: Verdaccio
    token: str
    proxy: RegistryProxy
    """In front of ``npm``: the agent publishes through it; publishes are counted there."""
    root: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("npm")
    with Verdaccio(root / "verdaccio") as npm, RegistryProxy(npm.url) as proxy:
        token = npm.add_user("uploader", PASSWORD)
        agent = registry_agent(root / "agent")
        try:
            set_credential(agent, "npm-token", token, channels=["npm"])
            yield World(agent, add_voters(agent), npm, token, proxy, root)
        finally:
            agent.stop()


def npm_channel(world: World, **changes: object) -> dict[str, object]:
    return {
        "name": "npm",
        "kind": "npm",
        "url": world.proxy.url,
        "package": "acme-lib",
        "credential": "npm-token",
        **changes,
    }


def published(proxy: RegistryProxy, version: str) -> int:
    """How many publishes of ``version`` (of any package) the registry accepted."""
    marker = f'"versions": {{"{version}": '.encode()
    return sum(1 for e in proxy.succeeded("PUT") if marker in e.head)


def test_stage_vote_distribute_announce(world: World) -> None:
    agent, rm = world.agent, world.agent.committer
    folder = world.root / "1.0.0"
    tgz = npm_tarball(folder, "acme-lib", "1.0.0")
    data = tgz.read_bytes()
    set_channels(agent, [npm_channel(world)])

    # staged during the vote: 1.0.0-rc1 under the dist-tag rc, on the same registry
    release_with(agent, world.voters, folder, "1.0.0", [tgz], stage=True)
    document = world.npm.document("acme-lib")
    assert document["dist-tags"]["rc"] == "1.0.0-rc1"
    assert list(document["versions"]) == ["1.0.0-rc1"]
    assert world.npm.tarball("acme-lib", "1.0.0-rc1") == data
    staged = channel(current_status(agent, "1.0.0"), "npm")
    (file,) = staged["files"]
    assert file["path"] == tgz.name and file["state"] == "done" and file["verified"]
    assert file["url"] == f"{world.proxy.url}/acme-lib/-/acme-lib-1.0.0-rc1.tgz"
    # voters install what they vote on
    target = world.root / "voter"
    target.mkdir()
    install = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(target),
         "--registry", world.npm.url, "--cache", str(world.root / "npm-cache"), "acme-lib@rc"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    installed = json.loads((target / "node_modules/acme-lib/package.json").read_text())
    assert installed["name"] == "acme-lib" and installed["version"] == "1.0.0"

    plan = distribute(agent, "1.0.0")
    (planned,) = [c for c in plan["channels"] if c["name"] == "npm"]
    assert planned["target"] == f"{world.proxy.url}/acme-lib"
    assert [(f["path"], f["target"]) for f in planned["files"]] == [
        (tgz.name, f"{world.proxy.url}/acme-lib/-/acme-lib-1.0.0.tgz")
    ]
    done = wait_distribution(agent, "1.0.0", "verified", timeout=180)
    (file,) = channel(done, "npm")["files"]
    assert file["verified"] and file["url"] == f"{world.proxy.url}/acme-lib/-/acme-lib-1.0.0.tgz"
    document = world.npm.document("acme-lib")
    assert document["dist-tags"]["latest"] == "1.0.0"
    assert document["dist-tags"]["rc"] == "1.0.0-rc1"
    assert document["versions"]["1.0.0"]["dist"]["integrity"] == sha512_integrity(
        hashlib.sha512(data).hexdigest()
    )
    assert world.npm.tarball("acme-lib", "1.0.0") == data
    assert world.npm.accepted("acme-lib") == 2  # the candidate and the release, once each
    assert published(world.proxy, "1.0.0-rc1") == 1 and published(world.proxy, "1.0.0") == 1

    # starting it again changes nothing anywhere
    exchanges = len(world.proxy.exchanges)
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 200 and r.json()["state"] == "verified", r.text
    assert len(world.proxy.exchanges) == exchanges and world.npm.accepted("acme-lib") == 2

    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/announce", json={})
        assert r.status_code == 200, r.text
    wait_phase(agent, rm.token, "1.0.0", "announced")
    wait_mails(agent, "[DISTRIBUTED] Acme Library 1.0.0",
               "[ANNOUNCE] Apache Acme Library 1.0.0 released")  # fmt: skip
    assert_no_secret(agent, [world.token, PASSWORD], ["1.0.0"])


def test_each_registry_answer_gives_its_state_and_words(world: World) -> None:
    agent, rm = world.agent, world.agent.committer
    folder = world.root / "1.1.0"
    packages = [npm_tarball(folder, name, "1.1.0") for name in ("acme-lib", "acme-cli", "acme-web")]
    lib, cli, web = packages
    # acme-web 1.1.0 is on the registry already, with another tarball
    other = npm_tarball(world.root / "other", "acme-web", "1.1.0", padding=100)
    _publish_by_hand(world, other, "acme-web", "1.1.0")
    set_credential(agent, "npm-wrong", WRONG_TOKEN, channels=[f"{PROJECT}:denied"])
    with RegistryProxy(world.npm.url) as flaky, RegistryProxy(world.npm.url) as gate:
        flaky.fail("PUT", 500, '{"error": "internal server error"}', times=2)
        set_channels(agent, [
            npm_channel(world, name="flaky", url=flaky.url, options={"tarball": "acme-lib-*"}),
            npm_channel(world, name="denied", url=gate.url, package="acme-cli",
                        credential="npm-wrong", options={"tarball": "acme-cli-*"}),
            npm_channel(world, name="taken", package="acme-web",
                        options={"tarball": "acme-web-*"}),
        ])  # fmt: skip
        release_with(agent, world.voters, folder, "1.1.0", packages)
        distribute(agent, "1.1.0")
        failed = wait_distribution(agent, "1.1.0", "failed", timeout=180)

        # 500 twice, then 201: retried with backoff, done and verified
        (file,) = channel(failed, "flaky")["files"]
        assert file["path"] == lib.name and file["state"] == "done" and file["verified"]
        assert [e.status for e in flaky.exchanges if e.method == "PUT"] == [500, 500, 201]
        assert world.npm.tarball("acme-lib", "1.1.0") == lib.read_bytes()
        retried = [line for line in task_lines(agent, "1.1.0") if "trying again" in line]
        assert len(retried) == 2 and ': 500 {"error": "internal server error"}' in retried[0]

        # a bad token: 401 in verdaccio's words, not retried
        (refused,) = channel(failed, "denied")["files"]
        assert refused["path"] == cli.name and refused["state"] == "failed"
        assert refused["error"] == (
            f"publishing acme-cli@1.1.0 to {gate.url}/acme-cli: 401 "
            '{ "error": "authorization required to publish package acme-cli" } '
            "(hint: check the channel's credential (atr-agent credential set …) and its rights)"
        )
        assert [e.status for e in gate.exchanges if e.method == "PUT"] == [401]
        assert world.npm.accepted("acme-cli") == 0

        # the version holds another tarball: failed, never overwritten
        (taken,) = channel(failed, "taken")["files"]
        assert taken["path"] == web.name and taken["state"] == "failed"
        assert "holds other bytes than" in taken["error"]
        assert "refusing to overwrite it" in taken["error"]
        assert world.npm.tarball("acme-web", "1.1.0") == other.read_bytes()
        assert world.npm.accepted("acme-web") == 1  # the one made by hand

        wait_mails(agent, *(f"[FAILED] Publishing Acme Library 1.1.0 to {name}"
                            for name in ("denied", "taken")))  # fmt: skip

        # the admin stores the right token; the release manager retries that channel
        set_credential(agent, "npm-wrong", world.token, channels=[f"{PROJECT}:denied"])
        with client(agent, rm.token) as c:
            r = c.post(f"/projects/{PROJECT}/releases/1.1.0/distribution/channels/denied/retry")
            assert r.status_code == 200, r.text
        again = wait_distribution(agent, "1.1.0", "failed", timeout=120)
        (fixed,) = channel(again, "denied")["files"]
        assert fixed["state"] == "done" and fixed["verified"] and fixed["error"] is None
        assert world.npm.tarball("acme-cli", "1.1.0") == cli.read_bytes()
        assert world.npm.document("acme-cli")["dist-tags"] == {"latest": "1.1.0"}
    assert_no_secret(agent, [world.token, PASSWORD, WRONG_TOKEN], ["1.1.0"])


def test_a_crash_after_the_registry_accepted_publishes_nothing_twice(world: World) -> None:
    agent = world.agent
    folder = world.root / "1.2.0"
    tgz = npm_tarball(folder, "acme-lib", "1.2.0", padding=1 << 20)
    set_channels(agent, [npm_channel(world)])
    release_with(agent, world.voters, folder, "1.2.0", [tgz])
    accepted = world.npm.accepted("acme-lib")

    world.proxy.hold_answers("PUT")  # verdaccio answers; the agent never hears it
    distribute(agent, "1.2.0")
    held = world.proxy.wait_for_held("PUT", timeout=120)
    assert held.status == 201
    kill_with_workers(agent)
    world.proxy.release_answers()
    deadline = time.monotonic() + 10
    while world.npm.accepted("acme-lib") == accepted and time.monotonic() < deadline:
        time.sleep(0.1)  # verdaccio logs the publish as it finishes answering
    assert world.npm.accepted("acme-lib") == accepted + 1
    agent.start()

    done = wait_distribution(agent, "1.2.0", "verified", timeout=120 + 4 * LEASE_SECONDS)
    (file,) = channel(done, "npm")["files"]
    assert file["state"] == "done" and file["verified"]
    assert world.npm.tarball("acme-lib", "1.2.0") == tgz.read_bytes()
    assert world.npm.accepted("acme-lib") == accepted + 1  # published once, zero duplicates
    assert published(world.proxy, "1.2.0") == 1
    assert [e.status for e in world.proxy.exchanges if e.method == "PUT"][-1] == 201
    # found there after the restart: recorded done, not uploaded (by this attempt), verified
    recorded = [(e["data"]["state"], e["data"]["uploaded"], e["data"]["verified"])
                for e in step_events(agent, "1.2.0", "npm")]  # fmt: skip
    assert recorded == [("done", False, False), ("done", False, True)], recorded
    wait_mails(agent, "[DISTRIBUTED] Acme Library 1.2.0")
    assert_no_secret(agent, [world.token, PASSWORD], ["1.2.0"])


def _publish_by_hand(world: World, tarball: Path, package: str, version: str) -> None:
    """Publish ``tarball`` as ``package@version`` the way ``npm publish`` does."""
    data = tarball.read_bytes()
    integrity = sha512_integrity(hashlib.sha512(data).hexdigest())
    document = {
        "_id": package,
        "name": package,
        "dist-tags": {"latest": version},
        "versions": {version: {
            "name": package, "version": version, "_id": f"{package}@{version}",
            "dist": {"integrity": integrity, "tarball":
                     f"{world.npm.url}/{package}/-/{package}-{version}.tgz"}}},
        "_attachments": {f"{package}-{version}.tgz": {
            "content_type": "application/octet-stream",
            "data": base64.b64encode(data).decode(), "length": len(data)}},
    }  # fmt: skip
    r = httpx.put(
        f"{world.npm.url}/{package}",
        json=document,
        headers={"Authorization": f"Bearer {world.token}"},
        timeout=60,
    )
    assert r.status_code == 201, r.text
