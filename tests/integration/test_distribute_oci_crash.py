"""``kill -9`` of the agent and its workers in the middle of an image upload, then a restart.

A throttling proxy in front of a real ``docker-registry`` makes the 8 MiB layer take a few
seconds (1 MiB PATCH chunks at 2 MiB/s); the agent and every process under it are
SIGKILLed once 3 MiB went through. After the restart the distribution finishes, and the
registry finished each blob upload once, was given the tag once, and serves the image
``skopeo`` pulls back with the release's digests; no event is lost or repeated.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.distribute_support import (
    add_voters,
    approve_plan,
    distribution_agent,
    status,
    wait_distribution,
)
from tests.integration.oci_support import (
    DockerRegistry,
    RegistryProxy,
    all_events,
    candidate_with_image,
    docker_channel,
    pulled_blobs,
    set_channel,
    skopeo_pull,
    vote_to_passed,
)
from tests.integration.vote_support import client
from tests.support.agent import PROJECT, AgentFactory, AgentProcess

pytestmark = pytest.mark.integration

RATE = 2 << 20
LAYER = 8 << 20
KILL_AFTER = 3 << 20


def kill_agent_and_workers(agent: AgentProcess) -> list[int]:
    """SIGKILL the agent and every process it started (workers, their svn/gpg children)."""
    tree = psutil.Process(agent.pid).children(recursive=True)
    agent.kill()
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(tree, timeout=10)
    return [p.pid for p in tree]


def test_kill_mid_upload_restart_finish(agent_factory: AgentFactory, tmp_path: Path) -> None:
    name = "acme/crash"
    with (
        DockerRegistry(tmp_path / "registry") as registry,
        RegistryProxy(registry, rate=RATE) as proxy,
    ):
        agent = distribution_agent(agent_factory, lease_seconds=3)
        rm = agent.committer
        voters = add_voters(agent)
        set_channel(agent, url=proxy.url, package=name, options={"chunk_size": str(1 << 20)})
        image, revision = candidate_with_image(
            agent, tmp_path, "1.0.0", layers=[{"big.bin": os.urandom(LAYER)}, {"a.txt": b"a"}]
        )
        big = max(image.blobs, key=lambda d: len(image.blobs[d]))
        vote_to_passed(agent, voters, "1.0.0", revision)
        approve_plan(agent, rm, "1.0.0")
        with client(agent, rm.token) as c:
            r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
            assert r.status_code == 200, r.text

        deadline = time.monotonic() + 120
        while proxy.body_bytes < KILL_AFTER:
            assert time.monotonic() < deadline, f"the upload did not start: {proxy.requests}"
            time.sleep(0.02)
        killed = kill_agent_and_workers(agent)
        assert killed, "the agent had no workers to kill"
        at_kill = proxy.body_bytes
        seen_at_kill = len(proxy.requests)
        assert at_kill < len(image.blobs[big])  # mid-upload of the big layer
        assert registry.completed_uploads(name)[big] == 0
        assert registry.tag_digest(name, "1.0.0") is None
        time.sleep(1)
        assert proxy.body_bytes == at_kill, "something still uploads after the kill"

        agent.start()
        done = wait_distribution(agent, "1.0.0", "verified", timeout=180)
        pulled = tmp_path / "pulled"
        assert skopeo_pull(registry, f"{name}:1.0.0", pulled) == image.digest
        assert pulled_blobs(pulled)[big] == image.blobs[big]

    (step,) = docker_channel(done)["files"]
    assert step["state"] == "done" and step["verified"] is True
    assert step["url"] == f"{proxy.url.split('//')[1]}/{name}:1.0.0@{image.digest}"
    assert step["attempts"] == 2  # claimed before the kill, and once after

    # the registry finished each blob once, got the tag once, and holds the right bytes
    uploads = registry.completed_uploads(name)
    pushed = {d for d in image.blobs if d != image.digest}
    assert set(uploads) == pushed and all(n == 1 for n in uploads.values()), uploads
    assert registry.manifest_puts(name, "1.0.0") == 1
    assert registry.stored_tag(name, "1.0.0") == image.digest
    for digest in pushed:
        assert registry.stored_blob(digest) == image.blobs[digest]
    # after the restart the adapter asked first: the blobs done before the kill were skipped
    after = proxy.requests[seen_at_kill:]
    done_before = [
        d for d in pushed if d != big and ("HEAD", f"/v2/{name}/blobs/{d}", 200) in after
    ]
    assert done_before, after
    for digest in done_before:
        assert not [p for m, p, _ in after if m == "PUT" and f"digest={digest}" in p]

    # no event lost, none twice
    events = all_events(agent)
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids))
    mine = [e for e in events if e.get("version") == "1.0.0"]
    settled = [e for e in mine if e["kind"] == "distribution.settled"]
    assert [e["data"]["state"] for e in settled] == ["verified"]
    assert sum(1 for e in mine if e["kind"] == "distribution.started") == 1
    docker_steps = [
        e["data"] for e in mine
        if e["kind"] == "distribution.step" and e["data"]["channel"] == "docker"
    ]  # fmt: skip
    assert docker_steps[-1]["state"] == "done" and docker_steps[-1]["verified"] is True
    assert sum(1 for s in docker_steps if s["state"] == "done" and s["uploaded"]) >= 1
    dist_files = {f["path"] for c in done["channels"] if c["name"] == "dist" for f in c["files"]}
    dist_done = {
        e["data"]["path"] for e in mine
        if e["kind"] == "distribution.step" and e["data"]["channel"] == "dist"
        and e["data"]["state"] == "done"
    }  # fmt: skip
    assert dist_done == dist_files
    assert status(agent, rm.token, "1.0.0")["phase"] == "distribute"
