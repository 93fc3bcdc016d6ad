"""Releases onto PyPI channels, against two real pypiserver instances (PyPI and TestPyPI).

Real parts: an agent with two workers; two ``pypiserver`` processes with htpasswd users
(passlib); pip installing what was staged; a reverse proxy in front of the "PyPI" one
that counts every upload (and fails or slows some on purpose); GnuPG for the signed plan;
the embedded Subversion dist repository; the file outbox for the mail.

One agent serves the module; each test is one release:

* 1.0.0 — staged on TestPyPI during its vote (pip installs it), voted, approved,
  published to PyPI, verified, announced; starting it again changes nothing anywhere.
* 1.1.0 — four channels at once, each meeting one kind of registry answer: 500 twice then
  200 (done), a wrong password (403, failed, not retried, then fixed and retried), no
  credential (401, failed), a name already taken by other bytes (failed, never
  overwritten) beside a file already there with the same bytes (done, not uploaded).
* 1.2.0 — the agent and its workers killed mid-upload, restarted: each file is on the
  index once, with the right bytes, uploaded once.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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
from tests.support.packages import python_sdist, python_wheel
from tests.support.proxy import RegistryProxy
from tests.support.pypiserver import PypiServer

pytestmark = pytest.mark.integration

PYPI_PASSWORD = "pypi-upload-Secret-7f3a9c"
TEST_PASSWORD = "testpypi-upload-Secret-41d2e8"
WRONG_PASSWORD = "not-the-password-9b7e1f"


@dataclass
class World:
    agent: AgentProcess
    voters: list[Member]
    pypi: PypiServer
    testpypi: PypiServer
    proxy: RegistryProxy
    """In front of ``pypi``: production uploads go through it and are counted there."""
    root: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("pypi")
    with (
        PypiServer(root / "pypi", users={"uploader": PYPI_PASSWORD}) as pypi,
        PypiServer(root / "testpypi", users={"tester": TEST_PASSWORD}) as testpypi,
        RegistryProxy(pypi.url) as proxy,
    ):
        agent = registry_agent(root / "agent")
        try:
            set_credential(agent, "pypi-prod", PYPI_PASSWORD, username="uploader",
                           channels=["pypi"])  # fmt: skip
            set_credential(agent, "pypi-test", TEST_PASSWORD, username="tester",
                           channels=["pypi"])  # fmt: skip
            yield World(agent, add_voters(agent), pypi, testpypi, proxy, root)
        finally:
            agent.stop()


def pypi_channel(world: World) -> dict[str, object]:
    return {
        "name": "pypi",
        "kind": "pypi",
        "url": f"{world.proxy.url}/",
        "staging_url": world.testpypi.url,
        "package": "acme-lib",
        "credential": "pypi-prod",
        "staging_credential": "pypi-test",
    }


def uploaded_files(proxy: RegistryProxy) -> list[str]:
    """The file names of the uploads the registry behind ``proxy`` accepted."""
    return [_upload_name(e.head) for e in proxy.succeeded("POST")]


def _upload_name(head: bytes) -> str:
    found = re.search(rb'name="content"; filename="([^"]+)"', head)
    return found.group(1).decode() if found else "?"


def test_stage_vote_distribute_announce(world: World) -> None:
    agent, rm = world.agent, world.agent.committer
    folder = world.root / "1.0.0"
    wheel = python_wheel(folder, "acme-lib", "1.0.0")
    sdist = python_sdist(folder, "acme-lib", "1.0.0")
    packages = {p.name: p.read_bytes() for p in (wheel, sdist)}
    set_channels(agent, [pypi_channel(world)])

    # staged on TestPyPI during the vote: the wheel and the sdist, nothing else
    release_with(agent, world.voters, folder, "1.0.0", [wheel, sdist], stage=True)
    assert world.testpypi.stored() == packages
    assert world.pypi.stored() == {}
    staged = channel(current_status(agent, "1.0.0"), "pypi")
    assert sorted(f["path"] for f in staged["files"]) == sorted(packages)
    for file in staged["files"]:
        assert file["state"] == "done" and file["verified"], file
        assert file["url"] == f"{world.testpypi.url}packages/{file['path']}"
    # voters install what they vote on, from TestPyPI
    target = world.root / "installed"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir",
         "--disable-pip-version-check", "--index-url", world.testpypi.index_url,
         "--target", str(target), "acme-lib==1.0.0"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert '__version__ = "1.0.0"' in (target / "acme_lib" / "__init__.py").read_text()

    # the plan names exactly the wheel and the sdist on PyPI
    plan = distribute(agent, "1.0.0")
    (planned,) = [c for c in plan["channels"] if c["name"] == "pypi"]
    assert planned["target"] == f"{world.proxy.url}/simple/acme-lib/"
    assert sorted(f["path"] for f in planned["files"]) == sorted(packages)
    done = wait_distribution(agent, "1.0.0", "verified", timeout=180)
    assert done["phase"] == "distribute"
    published = channel(done, "pypi")
    assert published["state"] == "done"
    for file in published["files"]:
        assert file["verified"] and file["url"] == f"{world.proxy.url}/packages/{file['path']}"
    assert world.pypi.stored() == packages
    assert sorted(uploaded_files(world.proxy)) == sorted(packages)
    for name in packages:
        assert world.pypi.stores(name) == 1
    steps = step_events(agent, "1.0.0", "pypi")
    assert {(e["data"]["path"], e["data"]["uploaded"]) for e in steps if e["data"]["verified"]} >= {
        (name, True) for name in packages
    }

    # starting it again changes nothing anywhere
    exchanges = len(world.proxy.exchanges)
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 200 and r.json()["state"] == "verified", r.text
    assert len(world.proxy.exchanges) == exchanges and world.pypi.stored() == packages

    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/announce", json={})
        assert r.status_code == 200, r.text
    wait_phase(agent, rm.token, "1.0.0", "announced")
    mails = wait_mails(agent, "[DISTRIBUTED] Acme Library 1.0.0",
                       "[ANNOUNCE] Apache Acme Library 1.0.0 released")  # fmt: skip
    summary = next(m for s, m in mails.items() if s.startswith("[DISTRIBUTED] Acme Library 1.0.0"))
    assert f"{world.proxy.url}/packages/{wheel.name}" in summary.get_content()
    assert_no_secret(agent, [PYPI_PASSWORD, TEST_PASSWORD], ["1.0.0"])


def test_each_registry_answer_gives_its_state_and_words(world: World) -> None:
    agent, rm = world.agent, world.agent.committer
    folder = world.root / "1.1.0"
    wheel = python_wheel(folder, "acme-lib", "1.1.0")
    sdist = python_sdist(folder, "acme-lib", "1.1.0")
    # TestPyPI already holds the sdist (same bytes) and another wheel under the wheel's name
    world.testpypi.put(sdist)
    other = python_wheel(world.root / "other", "acme-lib", "1.1.0", padding=1000)
    world.testpypi.put(other)
    set_credential(agent, "pypi-wrong", WRONG_PASSWORD, username="uploader",
                   channels=[f"{PROJECT}:denied"])  # fmt: skip
    with RegistryProxy(world.pypi.url) as flaky, RegistryProxy(world.pypi.url) as gate:
        flaky.fail("POST", 500, "Internal Server Error", times=2)
        set_channels(agent, [
            {"name": "flaky", "kind": "pypi", "url": flaky.url, "files": ["*.whl"],
             "credential": "pypi-prod"},
            {"name": "denied", "kind": "pypi", "url": gate.url, "files": ["*.tar.gz"],
             "credential": "pypi-wrong"},
            {"name": "anonymous", "kind": "pypi", "url": gate.url, "files": ["*.tar.gz"]},
            {"name": "taken", "kind": "pypi", "url": world.testpypi.url,
             "credential": "pypi-test"},
        ])  # fmt: skip
        release_with(agent, world.voters, folder, "1.1.0", [wheel, sdist])
        distribute(agent, "1.1.0")
        failed = wait_distribution(agent, "1.1.0", "failed", timeout=180)

        # 500 twice, then 200: retried with backoff, done and verified
        assert channel(failed, "flaky")["state"] == "done"
        assert [e.status for e in flaky.exchanges if e.method == "POST"] == [500, 500, 200]
        assert world.pypi.stores(wheel.name) == 1
        retried = [line for line in task_lines(agent, "1.1.0") if "trying again" in line]
        assert len(retried) == 2 and ": 500 Internal Server Error; trying again" in retried[0]

        # a wrong password: 403 in pypiserver's words, not retried
        (refused,) = channel(failed, "denied")["files"]
        assert refused["state"] == "failed" and refused["attempts"] == 1
        assert refused["error"].startswith(f"uploading {sdist.name} to {gate.url}/: 403 ")
        assert "Forbidden" in refused["error"] and "<" not in refused["error"]
        # no credential at all: 401
        (anonymous,) = channel(failed, "anonymous")["files"]
        assert anonymous["state"] == "failed" and ": 401 " in anonymous["error"]
        assert sorted(e.status or 0 for e in gate.exchanges if e.method == "POST") == [401, 403]
        assert world.pypi.stores(sdist.name) == 0

        # another file under the wheel's name: failed, never overwritten; the sdist that is
        # there with the same bytes: done without an upload
        taken = {f["path"]: f for f in channel(failed, "taken")["files"]}
        assert taken[wheel.name]["state"] == "failed"
        assert "holds other bytes than" in taken[wheel.name]["error"]
        assert "refusing to overwrite it" in taken[wheel.name]["error"]
        assert taken[sdist.name]["state"] == "done" and taken[sdist.name]["verified"]
        assert world.testpypi.stored()[wheel.name] == other.read_bytes()
        assert world.testpypi.stores(wheel.name) == 0 and world.testpypi.stores(sdist.name) == 0
        uploaded = {e["data"]["path"]: e["data"]["uploaded"]
                    for e in step_events(agent, "1.1.0", "taken")}  # fmt: skip
        assert uploaded[sdist.name] is False

        wait_mails(agent, *(f"[FAILED] Publishing Acme Library 1.1.0 to {name}"
                            for name in ("denied", "anonymous", "taken")))  # fmt: skip
        with client(agent, rm.token) as c:
            r = c.post(f"/projects/{PROJECT}/releases/1.1.0/announce", json={})
            assert r.status_code == 409 and "not verified" in r.json()["message"], r.text

        # the admin fixes the password; the release manager retries that one channel
        set_credential(agent, "pypi-wrong", PYPI_PASSWORD, username="uploader",
                       channels=[f"{PROJECT}:denied"])  # fmt: skip
        with client(agent, rm.token) as c:
            r = c.post(f"/projects/{PROJECT}/releases/1.1.0/distribution/channels/denied/retry")
            assert r.status_code == 200, r.text
        again = wait_distribution(agent, "1.1.0", "failed", timeout=120)
        (fixed,) = channel(again, "denied")["files"]
        assert fixed["state"] == "done" and fixed["verified"] and fixed["error"] is None
        assert world.pypi.stored()[sdist.name] == sdist.read_bytes()
        assert world.pypi.stores(sdist.name) == 1
    assert_no_secret(agent, [PYPI_PASSWORD, TEST_PASSWORD, WRONG_PASSWORD], ["1.1.0"])


def test_a_crash_mid_upload_finishes_after_a_restart_without_duplicates(world: World) -> None:
    agent = world.agent
    folder = world.root / "1.2.0"
    wheel = python_wheel(folder, "acme-lib", "1.2.0", padding=3 << 20)
    sdist = python_sdist(folder, "acme-lib", "1.2.0")
    packages = {p.name: p.read_bytes() for p in (wheel, sdist)}
    set_channels(agent, [pypi_channel(world)])
    release_with(agent, world.voters, folder, "1.2.0", [wheel, sdist])
    before = len(world.proxy.exchanges)

    world.proxy.throttle(256 << 10)  # the wheel takes ~12 s to upload
    distribute(agent, "1.2.0")
    cut = world.proxy.wait_for_body(1 << 20, timeout=120)
    assert _upload_name(cut.head) == wheel.name
    kill_with_workers(agent)
    world.proxy.sever()  # the upload's connection dies with the agent
    world.proxy.throttle(None)
    deadline = time.monotonic() + 30
    while not cut.severed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cut.severed and cut.status is None and cut.sent < cut.length
    assert wheel.name not in world.pypi.stored()
    agent.start()

    done = wait_distribution(agent, "1.2.0", "verified", timeout=120 + 4 * LEASE_SECONDS)
    assert channel(done, "pypi")["state"] == "done" and channel(done, "dist")["state"] == "done"
    assert {n: b for n, b in world.pypi.stored().items() if "1.2.0" in n} == packages
    for name, data in packages.items():
        assert world.pypi.stores(name) == 1, name
        assert hashlib.sha512(world.pypi.stored()[name]).hexdigest() == (
            hashlib.sha512(data).hexdigest()
        )
    ours = world.proxy.exchanges[before:]
    accepted = [_upload_name(e.head) for e in ours if e.method == "POST" and e.succeeded]
    assert sorted(accepted) == sorted(packages), [  # each uploaded once, zero duplicates
        (e.method, e.status, e.sent, e.length, _upload_name(e.head)) for e in ours
    ]
    for path in packages:  # no event lost, none twice: uploaded once, verified once
        recorded = [
            (e["data"]["state"], e["data"]["uploaded"], e["data"]["verified"])
            for e in step_events(agent, "1.2.0", "pypi")
            if e["data"]["path"] == path
        ]
        assert recorded == [("done", True, False), ("done", True, True)], recorded
    wait_mails(agent, "[DISTRIBUTED] Acme Library 1.2.0")
    assert_no_secret(agent, [PYPI_PASSWORD, TEST_PASSWORD], ["1.2.0"])
