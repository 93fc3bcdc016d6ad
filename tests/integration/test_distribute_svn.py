"""A release from its vote to ``announced`` on the agent's embedded Subversion dist repository.

Real parts: an agent with two workers, GnuPG for the signed plan, ``svnadmin``/``svnmucc``/
``svn`` for the repository, the file outbox for the mail.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from shared.client.distribute import sign_plan
from shared.distribute import plan_text
from tests.integration.distribute_support import (
    add_voters,
    approve_plan,
    distribution_agent,
    passed_release,
    signed_plan,
    status,
    svn,
    wait_distribution,
    wait_mails,
)
from tests.integration.vote_support import client, wait_phase
from tests.support.agent import PROJECT
from tests.support.chromium import CHROMIUM, chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.integration


def test_stage_vote_approve_distribute_announce(agent_factory, tmp_path: Path) -> None:
    agent = distribution_agent(agent_factory)
    voters = add_voters(agent)
    rm = agent.committer
    root = (agent.data_dir / "dist-svn").resolve().as_uri()

    # staged during the vote: dist/dev/<project>/<version>-rc1
    revision = passed_release(agent, voters, tmp_path, "1.0.0", stage=True)
    dev = svn("ls", "-R", f"{root}/dev/{PROJECT}/1.0.0-rc1")
    assert sorted(dev.split()) == sorted(f["path"] for f in revision["files"])
    candidate = httpx.get(f"{agent.url}/projects/{PROJECT}/candidates/1.0.0/", timeout=30).text
    assert "Staged for testing" in candidate and f"{root}/dev/{PROJECT}/1.0.0-rc1" in candidate

    # nothing is published without a signed approval of the current plan
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 409 and "no signed approval" in r.json()["message"], r.text
    plan, signed = signed_plan(agent, rm, "1.0.0")
    assert plan.channels[0].name == "dist"
    assert plan.digest in plan_text(plan) and plan.digest in signed
    with client(agent, rm.token) as c:
        tampered = signed.replace(plan.digest, "sha256:" + "0" * 64)
        r = c.post(
            f"/projects/{PROJECT}/releases/1.0.0/distribution/approval", json={"signed": tampered}
        )
        assert r.status_code == 400, r.text
        other = voters[0]  # a PMC member's key, sent with bob's token: not bob's signature
        r = c.post(
            f"/projects/{PROJECT}/releases/1.0.0/distribution/approval",
            json={"signed": sign_plan(other.key.key, plan)},
        )
        assert r.status_code == 400 and "registered" in r.json()["message"], r.text
    approve_plan(agent, rm, "1.0.0")
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 200, r.text
    done = wait_distribution(agent, "1.0.0", "verified")
    assert done["phase"] == "distribute" and done["approval"]["approved_by"] == "bob"
    (dist,) = done["channels"]
    assert dist["name"] == "dist" and dist["state"] == "done"
    for file in dist["files"]:
        assert file["state"] == "done" and file["verified"] is True
        local = next(f for f in revision["files"] if f["path"] == file["path"])
        data = _svn_bytes(file["url"])
        assert hashlib.sha512(data).hexdigest() == local["sha512"]
        assert file["url"] == f"{root}/release/{PROJECT}/1.0.0/{file['path']}"
    keys = _svn_bytes(f"{root}/release/{PROJECT}/KEYS").decode()
    assert rm.key.fingerprint in keys.replace(" ", "")
    log = svn("log", "-l", "1", f"{root}/release/{PROJECT}")
    assert "Release" in log and "Approved by: bob" in log

    # starting again changes nothing anywhere
    head = svn("info", "--show-item", "revision", root).strip()
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 200 and r.json()["state"] == "verified", r.text
    assert svn("info", "--show-item", "revision", root).strip() == head

    # announce: the [ANNOUNCE] mail goes out, the release is announced
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/announce", json={})
        assert r.status_code == 200, r.text
    wait_phase(agent, rm.token, "1.0.0", "announced")
    mails = wait_mails(agent, "[ANNOUNCE] Apache Acme Library 1.0.0", "[DISTRIBUTED] Acme")
    announce = mails["[ANNOUNCE] Apache Acme Library 1.0.0 released"]
    assert "announce@apache.org" in announce["To"]
    assert f"{agent.url}/projects/{PROJECT}/downloads/" in announce.get_content()
    assert "[DISTRIBUTED] Acme Library 1.0.0" in " ".join(mails)

    # 1.0.1 supersedes 1.0.0 in its line: removed from dist/release, archived
    passed_release(agent, voters, tmp_path, "1.0.1")
    approve_plan(agent, rm, "1.0.1")
    with client(agent, rm.token) as c:
        assert c.post(f"/projects/{PROJECT}/releases/1.0.1/distribution/start", json={}).is_success
    wait_distribution(agent, "1.0.1", "verified")
    assert sorted(svn("ls", f"{root}/release/{PROJECT}").split()) == ["1.0.1/", "KEYS"]
    with client(agent, rm.token) as c:
        assert c.post(f"/projects/{PROJECT}/releases/1.0.1/announce", json={}).is_success
    wait_phase(agent, rm.token, "1.0.0", "archived")
    assert status(agent, rm.token, "1.0.1")["phase"] == "announced"
    check_download_page(agent, tmp_path)


def check_download_page(agent, tmp_path: Path) -> None:
    """The hosted download page lists the announced release first, the archived one below;
    every link it has resolves, and the files are the bytes the dist repository holds."""
    url = f"{agent.url}/projects/{PROJECT}/downloads/"
    with httpx.Client(timeout=30) as http:  # no credentials: it is public
        page = http.get(url)
        assert page.status_code == 200, page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        text = page.text
        assert text.index("Acme Library 1.0.1") < text.index('id="older"')
        assert text.index('id="older"') < text.index("Acme Library 1.0.0")
        assert "-rc1" not in text  # release candidates are never linked
        links = re.findall(r'href="([^"#]+)"', text)
        assert any(link.endswith(".tar.gz.asc") for link in links)
        for link in links:
            r = http.get(link)
            assert r.status_code == 200, (link, r.status_code)
            if link.endswith(".tar.gz") and "/1.0.1/" in link:
                served = hashlib.sha512(r.content).hexdigest()
                assert served in text  # the SHA-512 the page shows
        assert (
            http.get(f"{agent.url}/projects/{PROJECT}/downloads/1.0.1/nothing").status_code == 404
        )
        assert http.get(f"{agent.url}/projects/{PROJECT}/downloads/9.9/x").status_code == 404
    if CHROMIUM is None:
        return
    dom = chromium("--virtual-time-budget=2000", "--dump-dom", url)
    assert dom.returncode == 0 and "Download Acme Library" in dom.stdout
    shot = tmp_path / "download-page.png"
    made = chromium(
        f"--screenshot={shot}", "--window-size=1200,900", "--virtual-time-budget=2000", url
    )
    assert made.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("ATR_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, SCREENSHOTS / "download-page.png")


def _svn_bytes(url: str) -> bytes:
    return subprocess.run(
        ["svn", "--non-interactive", "cat", url], capture_output=True, check=True
    ).stdout
