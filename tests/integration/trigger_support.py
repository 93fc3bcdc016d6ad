"""Real parts for the trigger tests: a bare git repository with a tagged source tree, signed
webhook deliveries, waiting on the event log."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from shared.checks.license_notice import apache_license_text
from tests.integration.vote_support import HEADER, NOTICE, client
from tests.support.agent import PROJECT, AgentProcess

SECRET = "a-webhook-secret-of-some-length"


def git(*args: str, cwd: Path) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Bob",
        "GIT_AUTHOR_EMAIL": "bob@apache.org",
        "GIT_COMMITTER_NAME": "Bob",
        "GIT_COMMITTER_EMAIL": "bob@apache.org",
        "GIT_AUTHOR_DATE": "2026-11-01T12:00:00Z",
        "GIT_COMMITTER_DATE": "2026-11-01T12:00:00Z",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def bare_repository(root: Path, tags: list[str]) -> tuple[Path, dict[str, str]]:
    """A bare repository with a compliant source tree, one commit per tag; tag → commit."""
    work = root / "work"
    bare = root / "acme.git"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", str(work), cwd=root)
    git("init", "-q", "--bare", str(bare), cwd=root)
    (work / "LICENSE").write_text(apache_license_text())
    (work / "NOTICE").write_text(NOTICE)
    (work / "src").mkdir()
    (work / "bin").mkdir()
    (work / "bin" / "run.sh").write_text(
        "#!/bin/sh\n# " + HEADER.replace("\n", "\n# ") + "\necho run\n"
    )
    (work / "bin" / "run.sh").chmod(0o755)
    commits = {}
    for number, tag in enumerate(tags):
        (work / "src" / "main.c").write_text(HEADER + f"int main(void) {{ return {number}; }}\n")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"for {tag}", cwd=work)
        git("tag", "-a", tag, "-m", f"release {tag}", cwd=work)
        commits[tag] = git("rev-parse", f"{tag}^{{commit}}", cwd=work)
    git("push", "-q", str(bare), "main", "--tags", cwd=work)
    return bare, commits


def push_payload(tag: str, sha: str, *, clone_url: str = "", deleted: bool = False) -> bytes:
    return json.dumps(
        {
            "ref": f"refs/tags/{tag}",
            "before": "0" * 40,
            "after": sha,
            "created": not deleted,
            "deleted": deleted,
            "repository": {"full_name": "apache/acme-lib", "clone_url": clone_url},
            "pusher": {"name": "bob", "email": "bob@apache.org"},
        }
    ).encode()


def deliver(
    agent: AgentProcess,
    body: bytes,
    *,
    event: str = "push",
    delivery: str | None = None,
    secret: str = SECRET,
    signature: str | None = None,
    project: str = PROJECT,
) -> Any:
    sig = signature or "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sig,
        "Content-Type": "application/json",
    }
    with agent.client() as c:
        return c.post(f"/triggers/webhook/{project}", content=body, headers=headers)


def set_triggers(agent: AgentProcess, **settings: Any) -> dict:
    with client(agent, agent.pmc_token) as c:
        r = c.put(f"/projects/{PROJECT}/trigger-settings", json=settings)
        assert r.status_code == 200, r.text
        return dict(r.json())


def events(
    agent: AgentProcess, kind: str, *, version: str | None = None, project: str | None = PROJECT
) -> list[dict]:
    """Every event of ``kind`` (of ``project``; None: of any project or none)."""
    found: list[dict] = []
    since = 0
    with client(agent, agent.admin_token) as c:
        while True:
            params: dict[str, Any] = {"since": since, "limit": 1000}
            if project:
                params["project"] = project
            if version:
                params["version"] = version
            page = c.get("/events", params=params).json()
            found += [e for e in page["events"] if e["kind"] == kind]
            if not page["events"]:
                return found
            since = page["next_since"]


def wait_event(
    agent: AgentProcess,
    kind: str,
    *,
    version: str | None = None,
    count: int = 1,
    timeout: float = 120,
) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events(agent, kind, version=version)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(
        f"no {count} '{kind}' event(s) within {timeout} s:\n{agent.log_text()[-3000:]}"
    )
