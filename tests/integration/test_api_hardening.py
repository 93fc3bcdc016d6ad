"""What a token may not reach, and input the agent refuses cleanly (issue 11's probes).

Against a real agent: a token limited to one project reads nothing of another project;
integers beyond 64 bits, oversized bodies and archive limits above the operator's
ceiling are clear 4xx answers, never a 500; a long-lived token comes only with a fresh
signature of the user's key (``atr token create --sign-with``, real GnuPG).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from shared.protocol import PROTOCOL_VERSION
from tests.desktop.gpg_home import gpg, kill_agent
from tests.support.agent import AgentProcess

pytestmark = pytest.mark.integration

BIG = str(2**63)
ATR = Path(sys.executable).parent / "atr"


@pytest.fixture(scope="module")
def scoped(agent: AgentProcess) -> dict[str, str]:
    """alice's PMC token limited to acme-tools (a second project of her committee), and a
    release of acme-lib with one file, to try to reach."""
    with agent.client(agent.admin_token) as admin:
        r = admin.post("/projects", json={"key": "acme-tools", "committee": "acme"})
        assert r.status_code == 201, r.text
        token = admin.post(
            "/tokens", json={"user": "alice", "project": "acme-tools", "role": "pmc"}
        ).json()["token"]
    with agent.client(agent.committer_token) as bob:
        assert bob.post("/projects/acme-lib/releases", json={"version": "9.0.0"}).is_success
        blob = bob.post(
            "/uploads", content=b"private bytes\n", headers={"X-Atr-Filename": "a.txt"}
        ).json()
        r = bob.post(
            "/projects/acme-lib/releases/9.0.0/revisions", json={"files": {"a.txt": blob["sha256"]}}
        )
        assert r.status_code == 201, r.text
        task = bob.get("/tasks", params={"project": "acme-lib"}).json()[0]
    return {"token": token, "sha256": blob["sha256"], "task": str(task["id"])}


def test_a_limited_token_reads_nothing_of_another_project(
    agent: AgentProcess, scoped: dict[str, str]
) -> None:
    with agent.client(scoped["token"]) as c:
        for path in (
            "/projects/acme-lib/releases",
            "/projects/acme-lib/releases/9.0.0",
            "/projects/acme-lib/releases/9.0.0/revisions/1",
            "/projects/acme-lib/releases/9.0.0/revisions/1/files/a.txt",
            "/projects/acme-lib/keys",
            "/projects/acme-lib/policy",
        ):
            r = c.get(path)
            assert r.status_code == 403 and "limited to project" in r.json()["message"], path
        assert c.get(f"/blobs/{scoped['sha256']}").status_code == 404
        assert c.get(f"/tasks/{scoped['task']}").status_code == 404
        assert c.get("/tasks", params={"project": "acme-lib"}).status_code == 403
        assert c.get("/events", params={"project": "acme-lib"}).status_code == 403
        assert c.get("/votes", params={"project": "acme-lib"}).status_code == 403
        # without a project, the listings hold its own project only
        events = c.get("/events", params={"since": 0, "limit": 1000}).json()["events"]
        assert events and {e["project"] for e in events} == {"acme-tools"}
        assert all(t["project"] == "acme-tools" for t in c.get("/tasks").json())
        # what is public or its own stays readable
        assert c.get("/projects/acme-tools/releases").status_code == 200
        assert c.get("/users/me").status_code == 200
    # an unlimited token of another committee still reads the open project's files
    with agent.client(agent.other.token) as carol:
        assert carol.get(f"/blobs/{scoped['sha256']}").content == b"private bytes\n"


def test_a_limited_token_streams_its_own_project_only(
    agent: AgentProcess, scoped: dict[str, str]
) -> None:
    async def run() -> tuple[dict, dict]:
        async with connect(agent.ws_url) as ws:
            await ws.send(json.dumps({"kind": "hello", "protocol": PROTOCOL_VERSION,
                                      "token": scoped["token"]}))  # fmt: skip
            json.loads(await ws.recv())
            await ws.send(json.dumps({"kind": "subscribe", "scope": {"project": "acme-lib"}}))
            refused = json.loads(await ws.recv())
            await ws.send(json.dumps({"kind": "subscribe", "scope": {}, "since": 0}))
            accepted = json.loads(await ws.recv())
            return refused, accepted

    refused, accepted = asyncio.run(run())
    assert refused["kind"] == "error" and refused["error"]["code"] == "forbidden"
    assert accepted["kind"] == "subscribed" and accepted["scope"]["project"] == "acme-tools"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/events?since={BIG}", None),
        ("GET", f"/tasks/{BIG}", None),
        ("DELETE", f"/tokens/{BIG}", None),
        ("GET", f"/projects/acme-lib/releases/9.0.0/revisions/{BIG}", None),
        ("GET", f"/projects/acme-lib/releases/9.0.0/revisions/{BIG}/checks", None),
        (
            "POST",
            "/tasks",
            {"type": "inventory", "project": "acme-lib", "version": "9.0.0", "revision": 2**63},
        ),
        ("POST", "/projects/acme-lib/releases/9.0.0/revisions", {"base": 2**63}),
        ("PUT", "/projects/acme-lib/vote-settings", {"vote_min_hours": 2**63}),
    ],
)
def test_integers_beyond_64_bits_are_refused_not_500(
    agent: AgentProcess, scoped: dict[str, str], method: str, path: str, body: object
) -> None:
    with agent.client(agent.admin_token) as admin:
        r = admin.request(method, path, json=body)
    assert r.status_code in (400, 422), r.text
    assert r.json()["code"] == "invalid"


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(agent_factory) -> None:
    small = agent_factory(env={"ATR_MAX_JSON_BYTES": "4096"}, workers=0)
    with small.client(small.admin_token) as admin:
        huge = json.dumps({"key": "x" * 10_000, "committee": "acme"})
        r = admin.post("/projects", content=huge, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "too_large" and "4,096 bytes" in r.json()["message"]
        # streamed without a length, the limit holds too
        r = admin.post(
            "/projects",
            content=iter([huge[:3000].encode(), huge[3000:].encode()]),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text
        # uploads and mail imports have their own, larger limits
        r = admin.post("/uploads", content=b"x" * 20_000, headers={"X-Atr-Filename": "f.bin"})
        assert r.status_code == 201, r.text
        mail = {"format": "mbox", "content": "From x\n" + "y" * 20_000}
        r = admin.post("/projects/acme-lib/releases/1.0.0/vote/mail", json=mail)
        assert r.status_code != 413, r.text


def test_archive_limits_stay_under_the_operators_ceiling(agent: AgentProcess) -> None:
    with agent.client(agent.pmc_token) as alice:
        policy = {"archive": {"max_members": 10**9}}
        r = alice.put("/projects/acme-lib/policy", json={"policy": policy, "reason": "big"})
        assert r.status_code == 400, r.text
        assert "archive.max_members" in r.json()["message"]
        assert "archive_max_members" in r.json()["hint"]
        policy = {"archive": {"max_members": 200_000}}
        r = alice.put("/projects/acme-lib/policy", json={"policy": policy, "reason": "ok"})
        assert r.status_code == 200, r.text


def test_a_long_lived_token_needs_a_fresh_signature(agent: AgentProcess, tmp_path: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="atr-tok-"))
    os.chmod(home, 0o700)
    try:
        gpg(home, "--quick-gen-key", "Hana Doe <hana@example.org>", "rsa3072", "sign", "never")
        listing = gpg(home, "--with-colons", "--list-secret-keys")
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        public = gpg(home, "--armor", "--export", fpr)
        public = public[public.index("-----BEGIN") :]
        with agent.client(agent.admin_token) as admin:
            r = admin.post(
                "/users",
                json={"name": "hana", "email": "hana@example.org", "public_key": public,
                      "memberships": [{"committee": "acme", "role": "committer"}]},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            short = admin.post(
                "/tokens", json={"user": "hana", "expires_in_days": 1, "role": "committer"}
            ).json()["token"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
        env["XDG_CONFIG_HOME"] = str(tmp_path / "config")

        def atr(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
            extra = ["--token", token] if token else []
            return subprocess.run(
                [str(ATR), "--agent", agent.url, *extra, *args],
                capture_output=True, text=True, env=env, timeout=120, check=False,
            )  # fmt: skip

        # with the one-day token, a 200-day token is refused: it cannot outlive its creator
        refused = atr("token", "create", "--expires-in-days", "200", token=short)
        assert refused.returncode != 0 and "cannot outlive" in refused.stderr
        # with a fresh signature of her key, no token needed
        made = atr("token", "create", "--user", "hana", "--expires-in-days", "200",
                   "--project", "acme-lib", "--sign-with", fpr, "--gnupg-home", str(home),
                   "--json")  # fmt: skip
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        assert created["info"]["project"] == "acme-lib" and created["info"]["role"] == "committer"
        with agent.client(created["token"]) as hana:
            assert hana.get("/users/me").json()["name"] == "hana"
        # more than her role is refused, before any token exists
        higher = atr("token", "create", "--user", "hana", "--role", "pmc", "--sign-with", fpr,
                     "--gnupg-home", str(home))  # fmt: skip
        assert higher.returncode != 0 and "holds the role 'committer'" in higher.stderr
        # a login signature does not pass for a token request, nor the reverse
        with agent.client() as anonymous:
            ch = anonymous.post("/auth/challenge", json={"user": "hana"}).json()
            body = {"challenge_id": ch["challenge_id"], "signature": "x"}
            r = anonymous.post("/auth/token", json=body)
            assert r.status_code == 401 and "not a token" in r.json()["message"]
        with agent.client(agent.admin_token) as admin:
            events = admin.get("/events", params={"since": 0, "limit": 1000}).json()["events"]
        signed = [e for e in events if e["kind"] == "token.created" and e["data"].get("signed_by")]
        assert signed and signed[-1]["data"]["signed_by"] == fpr
    finally:
        kill_agent(home)


def test_the_login_challenge_is_public_and_rate_limited(agent_factory) -> None:
    limited = agent_factory(env={"ATR_CHALLENGE_LIMIT_PER_MINUTE": "2"}, workers=0)
    with limited.client() as c:
        for _ in range(2):
            assert c.post("/auth/challenge", json={"user": "alice"}).status_code == 200
        r = c.post("/auth/challenge", json={"user": "alice"})
        assert r.status_code == 429 and r.json()["code"] == "too_many_requests"
        assert int(r.headers["Retry-After"]) > 0
        assert c.post("/auth/challenge", json={"user": "bob"}).status_code == 200


def test_the_openapi_document_names_the_errors_and_formats(agent: AgentProcess) -> None:
    doc = httpx.get(f"{agent.url}/openapi.json", timeout=30).json()
    op = doc["paths"]["/api/v1/projects/{key}/releases"]["post"]
    assert {"400", "401", "403", "404", "409", "413", "422"} <= set(op["responses"])
    assert op["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "committer" in op["description"]
    key = next(p for p in op["parameters"] if p["name"] == "key")
    assert key["schema"]["pattern"].startswith("^[a-z]")
    public = doc["paths"]["/api/v1/auth/challenge"]["post"]["responses"]
    assert "429" in public and "401" not in public
    task = doc["paths"]["/api/v1/tasks/{task_id}"]["get"]["parameters"][0]["schema"]
    assert task["maximum"] == 2**63 - 1
