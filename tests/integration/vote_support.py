"""Building a real release candidate on a real agent, and the people who vote on it.

    rm = agent.committer                                    # bob, the release manager
    files = source_release(tmp_path / "rc1", VERSION, sign=rm.key.sign)
    make_candidate(agent, rm.token, VERSION, files)         # upload, checks, wait for candidate
    dave = add_member(agent, "dave", role="pmc")            # a PMC member with a key and a token
    signed = sign_ballot(dave.key, content)                 # clear-signed ballot JSON

The source release is a proper one (LICENSE with the Apache License 2.0, NOTICE,
license headers, a detached signature by the RM and a SHA-512), so the agent's
checks pass and the release reaches ``candidate`` by itself.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from shared.checks.license_notice import apache_license_text
from shared.openpgp.cleartext import clear_sign
from shared.protocol.votes import BallotContent
from shared.votes import ballot_text
from tests.support.agent import COMMITTEE, PROJECT, AgentProcess
from tests.support.keys import KeyPair, user_key

HEADER = (
    "// Licensed to the Apache Software Foundation (ASF) under one or more contributor license\n"
    "// agreements. See the NOTICE file distributed with this work for additional information\n"
    "// regarding copyright ownership. The ASF licenses this file to you under the Apache\n"
    '// License, Version 2.0 (the "License"); you may not use this file except in compliance\n'
    "// with the License. You may obtain a copy of the License at\n"
    "//   http://www.apache.org/licenses/LICENSE-2.0\n"
)
NOTICE = (
    "Apache Acme Library\nCopyright 2026 The Apache Software Foundation\n\n"
    "This product includes software developed at\n"
    "The Apache Software Foundation (http://www.apache.org/).\n"
)
DISCLAIMER = (
    "Apache Foo is an effort undergoing incubation at The Apache Software Foundation (ASF),\n"
    "sponsored by the Apache Incubator. Incubation is required of all newly accepted projects\n"
    "until a further review indicates that the infrastructure, communications, and decision\n"
    "making process have stabilized in a manner consistent with other successful ASF\n"
    "projects. While incubation status is not necessarily a reflection of the completeness\n"
    "or stability of the code, it does indicate that the project has yet to be fully\n"
    "endorsed by the ASF.\n"
)


def source_release(
    folder: Path,
    version: str,
    *,
    sign: Callable[[bytes], str],
    project: str = PROJECT,
    podling: bool = False,
) -> list[Path]:
    """A source archive with its ``.asc`` (made by ``sign``) and ``.sha512``."""
    folder.mkdir(parents=True, exist_ok=True)
    top = f"apache-{project}-{version}" + ("-incubating" if podling else "")
    archive = folder / f"{top}-src.tar.gz"
    files = {
        "LICENSE": apache_license_text().encode(),
        "NOTICE": NOTICE.encode(),
        **({"DISCLAIMER": DISCLAIMER.encode()} if podling else {}),
        "src/main/java/org/apache/acme/Main.java": (
            HEADER + "package org.apache.acme;\n\npublic final class Main {}\n"
        ).encode(),
    }
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mtime = 1_767_225_600
            tar.addfile(info, io.BytesIO(data))
    data = archive.read_bytes()
    asc = archive.with_name(archive.name + ".asc")
    asc.write_text(sign(data))
    sha = archive.with_name(archive.name + ".sha512")
    sha.write_text(f"{hashlib.sha512(data).hexdigest()}  {archive.name}\n")
    return [archive, asc, sha]


def client(agent: AgentProcess, token: str) -> httpx.Client:
    return agent.client(token, timeout=60)


def upload(
    agent: AgentProcess, token: str, version: str, files: list[Path], *, project: str = PROJECT
) -> dict:
    """Upload ``files`` and make them the release's next revision; returns the revision."""
    with client(agent, token) as c:
        blobs = {}
        for path in files:
            r = c.post(
                "/uploads",
                content=path.read_bytes(),
                headers={"X-Atr-Filename": quote(path.name, safe="")},
            )
            assert r.status_code == 201, r.text
            blobs[path.name] = r.json()["sha256"]
        latest = c.get(f"/projects/{project}/releases/{version}").json()["latest_revision"]
        r = c.post(
            f"/projects/{project}/releases/{version}/revisions",
            json={"base": latest, "files": blobs, "message": "RC"},
        )
        assert r.status_code == 201, r.text
        return r.json()


def wait_phase(
    agent: AgentProcess,
    token: str,
    version: str,
    phase: str,
    *,
    timeout: float = 300,
    project: str = PROJECT,
) -> dict:
    """Wait until the release is in ``phase``; fails naming the checks' blockers if it is stuck."""
    deadline = time.monotonic() + timeout
    with client(agent, token) as c:
        while time.monotonic() < deadline:
            release = c.get(f"/projects/{project}/releases/{version}").json()
            if release["phase"] == phase:
                return release
            time.sleep(0.3)
        report = c.get(f"/projects/{project}/releases/{version}/revisions/latest/checks")
        problems = [
            (r["check"], r["path"], r["message"])
            for r in report.json().get("results", [])
            if r["status"] == "blocker"
        ]
        raise AssertionError(f"{version} stayed in {release['phase']}; blockers: {problems}")


def make_candidate(
    agent: AgentProcess,
    token: str,
    version: str,
    files: list[Path],
    *,
    project: str = PROJECT,
    signer: KeyPair | None = None,
) -> dict:
    """Create the release (if new), upload a revision, ask for checks, wait for ``candidate``.

    The release manager's key (``signer``; default: the seeded key of the user of
    ``token``) is published to the project's KEYS first.
    """
    with client(agent, token) as c:
        if signer is None:
            me = c.get("/users/me").json()
            signer = next(u.key for u in agent.users.values() if u.name == me["name"])
        r = c.post(f"/projects/{project}/keys", json={"armored": signer.public_armor})
        assert r.status_code in (200, 201), r.text
        r = c.post(f"/projects/{project}/releases", json={"version": version})
        assert r.status_code in (201, 409), r.text
    revision = upload(agent, token, version, files, project=project)
    with client(agent, token) as c:
        r = c.post(
            f"/projects/{project}/releases/{version}/transition",
            json={"to": "checks", "reason": "RC ready"},
        )
        assert r.status_code == 200, r.text
    wait_phase(agent, token, version, "candidate", project=project)
    return revision


@dataclass(frozen=True)
class Member:
    name: str
    email: str
    key: KeyPair
    token: str


def add_member(
    agent: AgentProcess,
    name: str,
    *,
    role: str = "pmc",
    committee: str = COMMITTEE,
    memberships: list[dict] | None = None,
) -> Member:
    """A new user with a registered key, a membership and an API token of that role."""
    key = user_key(name)
    with client(agent, agent.admin_token) as c:
        r = c.post(
            "/users",
            json={
                "name": name,
                "email": key.email,
                "public_key": key.public_armor,
                "memberships": memberships
                if memberships is not None
                else [{"committee": committee, "role": role}],
            },
        )
        assert r.status_code == 201, r.text
        token_role = "pmc" if role == "pmc" else "committer"
        r = c.post("/tokens", json={"user": name, "role": token_role, "label": "votes"})
        assert r.status_code == 201, r.text
        return Member(name=name, email=key.email, key=key, token=r.json()["token"])


def ballot(rev: dict, value: str = "+1", *, comment: str = "", **changes) -> BallotContent:
    """A ballot on revision ``rev`` reviewing every file with the SHA-512 the agent holds."""
    data = {
        "project": rev["project"],
        "version": rev["version"],
        "revision": rev["number"],
        "value": value,
        "reviewed": {f["path"]: f["sha512"] for f in rev["files"]},
        "comment": comment,
    }
    data.update(changes)
    return BallotContent.model_validate(data)


def sign_ballot(key: KeyPair, content: BallotContent) -> str:
    """The clear-signed ballot text, as the desktop makes it."""
    return clear_sign(key.key, ballot_text(content))


def events(
    agent: AgentProcess,
    token: str,
    *,
    since: int = 0,
    version: str | None = None,
    project: str = PROJECT,
) -> list:
    """The project's events (of one release), oldest first."""
    with client(agent, token) as c:
        params: dict = {"since": since, "limit": 1000, "project": project}
        if version:
            params["version"] = version
        return c.get("/events", params=params).json()["events"]
