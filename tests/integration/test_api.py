"""The REST API of a real agent: CRUD, roles, transitions, revisions, tasks, events, errors."""

from __future__ import annotations

import hashlib
import time
import uuid

import httpx
import pytest

from shared.protocol import PROTOCOL_VERSION
from tests.support.agent import AgentProcess
from tests.support.keys import fresh_key

pytestmark = pytest.mark.integration


def new_version() -> str:
    return f"1.0.{uuid.uuid4().int % 10**8}"


def upload(client: httpx.Client, data: bytes, name: str = "file.bin") -> dict:
    r = client.post("/uploads", content=data, headers={"X-Atr-Filename": name})
    assert r.status_code == 201, r.text
    return r.json()


def assert_error(r: httpx.Response, status: int, code: str, *words: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message", "hint"}
    assert body["code"] == code, body
    for word in words:
        assert word in body["message"], body
    return body


def wait_task(client: httpx.Client, task_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/tasks/{task_id}").json()
        if task["state"] in ("succeeded", "failed", "cancelled"):
            return task
        time.sleep(0.1)
    pytest.fail(f"task {task_id} did not finish in {timeout} s")


def test_health_needs_no_credentials(agent: AgentProcess) -> None:
    r = httpx.get(f"{agent.api_url}/health")
    assert r.status_code == 200
    body = r.json()
    assert (
        body["status"] == "ok"
        and body["protocol"] == PROTOCOL_VERSION
        and body["last_event_id"] > 0
    )
    short = httpx.get(f"{agent.url}/health")  # where load balancers and systemd probes look
    assert short.status_code == 200, short.text
    assert short.json()["status"] == "ok" and short.json()["version"] == body["version"]


def test_openapi_and_docs(agent: AgentProcess) -> None:
    spec = httpx.get(f"{agent.url}/openapi.json").json()
    for path in (
        "/api/v1/uploads",
        "/api/v1/projects/{key}/releases/{version}/transition",
        "/api/v1/projects/{key}/releases/{version}/revisions/{number}/files/{path}",
        "/api/v1/events",
        "/api/v1/tokens/{token_id}",
    ):
        assert path in spec["paths"], path
    assert httpx.get(f"{agent.url}/docs").status_code == 200


def test_reads_need_credentials(agent: AgentProcess) -> None:
    with agent.client() as anonymous:
        for path in ("/projects", "/users", "/events", "/tasks", "/committees"):
            body = assert_error(anonymous.get(path), 401, "unauthenticated", "credentials")
            assert body["hint"]
        assert anonymous.get("/projects").headers["www-authenticate"] == "Bearer"


def test_seeded_world_is_visible(agent: AgentProcess) -> None:
    with agent.client(agent.committer_token) as c:
        me = c.get("/users/me").json()
        assert me["name"] == "bob"
        assert me["memberships"] == [{"committee": "acme", "role": "committer"}]
        assert me["keys"][0]["fingerprint"] == agent.committer.key.fingerprint
        keys = {p["key"]: p for p in c.get("/projects").json()}
        assert keys["acme-lib"]["committee"] == "acme"
        assert [p["key"] for p in c.get("/projects", params={"committee": "globex"}).json()] == [
            "globex-app"
        ]
        assert c.get("/projects/acme-lib").json()["name"] == "Acme Library"
        assert_error(c.get("/projects/nope"), 404, "not_found", "nope")
        names = {u["name"] for u in c.get("/users").json()}
        assert {"admin", "alice", "bob", "carol"} <= names
        assert c.get("/users/alice").json()["memberships"][0]["role"] == "pmc"


def test_admin_creates_committee_project_and_user(agent: AgentProcess) -> None:
    key = fresh_key("dave")
    with agent.client(agent.admin_token) as admin:
        r = admin.post("/committees", json={"name": "initech", "podling": True})
        assert r.status_code == 201, r.text
        assert r.json() == {"name": "initech", "display_name": "initech", "podling": True}
        assert_error(admin.post("/committees", json={"name": "initech"}), 409, "conflict")
        r = admin.post("/projects", json={"key": "initech-tps", "committee": "initech"})
        assert r.status_code == 201 and r.json()["name"] == "initech-tps"
        assert_error(
            admin.post("/projects", json={"key": "x-y", "committee": "missing"}),
            404,
            "not_found",
            "missing",
        )
        r = admin.post(
            "/users",
            json={
                "name": "dave",
                "email": "dave@example.org",
                "public_key": key.public_armor,
                "memberships": [{"committee": "initech", "role": "committer"}],
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["keys"][0]["fingerprint"] == key.fingerprint
        # A secret key is refused, and nothing is half-written.
        r = admin.post(
            "/users",
            json={"name": "erin", "email": "erin@example.org", "public_key": key.secret_armor},
        )
        assert_error(r, 400, "invalid", "SECRET")
        assert_error(admin.get("/users/erin"), 404, "not_found")
        bad = admin.post("/committees", json={"name": "Bad Name"})
        assert_error(bad, 400, "invalid", "committee name")


def test_non_admin_cannot_administer(agent: AgentProcess) -> None:
    with agent.client(agent.pmc_token) as pmc:
        body = assert_error(
            pmc.post("/committees", json={"name": "evil"}), 403, "forbidden", "'admin'"
        )
        assert body["hint"]
        assert_error(
            pmc.post("/projects", json={"key": "evil", "committee": "acme"}), 403, "forbidden"
        )


def test_release_crud_and_errors(agent: AgentProcess) -> None:
    version = new_version()
    with agent.client(agent.committer_token) as c:
        r = c.post(f"/projects/{agent.project}/releases", json={"version": version})
        assert r.status_code == 201, r.text
        release = r.json()
        assert release["phase"] == "compose" and release["created_by"] == "bob"
        assert release["latest_revision"] is None
        assert_error(
            c.post(f"/projects/{agent.project}/releases", json={"version": version}),
            409,
            "conflict",
            "exists",
        )
        assert_error(
            c.post(f"/projects/{agent.project}/releases", json={"version": "../x"}), 400, "invalid"
        )
        assert_error(
            c.post("/projects/nope/releases", json={"version": "1.0"}), 404, "not_found", "nope"
        )
        got = c.get(f"/projects/{agent.project}/releases/{version}").json()
        assert got == release
        listed = c.get(f"/projects/{agent.project}/releases").json()
        assert version in [x["version"] for x in listed]
        assert_error(c.get(f"/projects/{agent.project}/releases/9.9.9-none"), 404, "not_found")
    # A committer of another committee may read but not create.
    with agent.client(agent.other.token) as other:
        assert other.get(f"/projects/{agent.project}/releases/{version}").status_code == 200
        body = assert_error(
            other.post(f"/projects/{agent.project}/releases", json={"version": new_version()}),
            403,
            "forbidden",
            "'committer'",
        )
        assert "acme-lib" in body["message"]


def test_transitions_by_role_and_table(agent: AgentProcess) -> None:
    version = new_version()
    path = f"/projects/{agent.project}/releases/{version}"
    with agent.client(agent.committer_token) as bob, agent.client(agent.pmc_token) as alice:
        assert bob.post(f"/projects/{agent.project}/releases", json={"version": version}).is_success
        body = assert_error(
            bob.post(f"{path}/transition", json={"to": "vote"}),
            409,
            "invalid_transition",
            "'compose'",
            "'vote'",
        )
        assert "checks" in body["hint"]
        r = bob.post(f"{path}/transition", json={"to": "checks", "reason": "ready"})
        assert r.status_code == 200 and r.json()["phase"] == "checks"
        assert_error(
            bob.post(f"{path}/transition", json={"to": "candidate"}), 403, "forbidden", "'pmc'"
        )
        # checks → candidate also needs finished checks (tests/integration/test_checks_agent.py)
        r = alice.post(f"{path}/transition", json={"to": "failed"})
        assert r.status_code == 200 and r.json()["phase"] == "failed"
        assert_error(alice.post(f"{path}/transition", json={"to": "sideways"}), 422, "invalid")
        events = bob.get(
            "/events", params={"project": agent.project, "version": version, "limit": 1000}
        ).json()["events"]
        changes = [e for e in events if e["kind"] == "release.phase_changed"]
        assert [(e["data"]["from"], e["data"]["to"], e["actor"]) for e in changes] == [
            ("compose", "checks", "bob"),
            ("checks", "failed", "alice"),
        ]
        assert changes[0]["data"]["reason"] == "ready"
        assert changes[1]["data"]["seconds_in_previous_phase"] >= 0


def test_uploads_revisions_and_downloads(agent: AgentProcess) -> None:
    version = new_version()
    base = f"/projects/{agent.project}/releases/{version}"
    with agent.client(agent.committer_token) as c:
        assert c.post(f"/projects/{agent.project}/releases", json={"version": version}).is_success
        a = upload(c, b"alpha\n" * 1000, "a.tar.gz")
        b = upload(c, b"beta\n", "b%20notes.txt")
        assert a["sha256"] == hashlib.sha256(b"alpha\n" * 1000).hexdigest()
        assert a["sha512"] == hashlib.sha512(b"alpha\n" * 1000).hexdigest()
        assert a["size"] == 6000
        unknown = "0" * 64
        body = assert_error(
            c.post(f"{base}/revisions", json={"files": {"x.txt": unknown}}), 400, "invalid"
        )
        assert unknown in body["message"] and "x.txt" in body["message"]
        assert_error(
            c.post(f"{base}/revisions", json={"files": {"../evil": a["sha256"]}}), 400, "invalid"
        )
        # a name the checks could not link under (file systems store at most 255 bytes)
        long_name = "apache-" + "x" * 300 + ".tar.gz"
        body = assert_error(
            c.post(f"{base}/revisions", json={"files": {long_name: a["sha256"]}}), 400, "invalid"
        )
        assert "at most 255 bytes" in body["message"], body
        r = c.post(
            f"{base}/revisions",
            json={"files": {"src/a.tar.gz": a["sha256"], "b.txt": b["sha256"]}, "message": "one"},
        )
        assert r.status_code == 201, r.text
        one = r.json()
        assert one["number"] == 1
        assert [f["path"] for f in one["files"]] == ["b.txt", "src/a.tar.gz"]
        r = c.post(f"{base}/revisions", json={"base": 1, "remove": ["b.txt"]})
        assert r.status_code == 201, r.text
        two = r.json()
        assert two["number"] == 2 and [f["path"] for f in two["files"]] == ["src/a.tar.gz"]
        assert_error(
            c.post(f"{base}/revisions", json={"base": 2, "remove": ["b.txt"]}),
            400,
            "invalid",
            "b.txt",
        )
        assert_error(c.post(f"{base}/revisions", json={"base": 7}), 404, "not_found")
        assert c.get(f"{base}/revisions/latest").json() == two
        assert c.get(f"{base}/revisions/1").json() == one
        assert [r["number"] for r in c.get(f"{base}/revisions").json()] == [1, 2]
        assert c.get(base).json()["latest_revision"] == 2
        assert_error(c.get(f"{base}/revisions/zero"), 400, "invalid")
        got = c.get(f"{base}/revisions/1/files/src/a.tar.gz")
        assert got.status_code == 200 and got.content == b"alpha\n" * 1000
        assert got.headers["x-atr-sha256"] == a["sha256"]
        assert "a.tar.gz" in got.headers["content-disposition"]
        assert_error(c.get(f"{base}/revisions/2/files/b.txt"), 404, "not_found", "b.txt")
        blob = c.get(f"/blobs/{b['sha256']}")
        assert blob.status_code == 200 and blob.content == b"beta\n"
        assert_error(c.get(f"/blobs/{'f' * 64}"), 404, "not_found")
        assert_error(c.get("/blobs/not-a-digest"), 400, "invalid", "SHA-256")
        # Revisions only while composing.
        assert c.post(f"{base}/transition", json={"to": "checks"}).is_success
        body = assert_error(
            c.post(f"{base}/revisions", json={"base": 2}), 409, "conflict", "'compose'"
        )
        assert body["hint"]
        events = c.get(
            "/events", params={"project": agent.project, "version": version, "limit": 1000}
        ).json()["events"]
        assert [e["data"]["number"] for e in events if e["kind"] == "revision.created"] == [1, 2]
        stored = c.get("/events", params={"since": 0, "limit": 1000}).json()["events"]
        names = {e["data"]["sha256"]: e["data"].get("filename") for e in stored
                 if e["kind"] == "blob.stored"}  # fmt: skip
        assert names[b["sha256"]] == "b notes.txt"


def test_uploading_needs_a_committer(agent: AgentProcess) -> None:
    with agent.client("atr_not-a-real-token") as c:
        assert_error(c.post("/uploads", content=b"x"), 401, "unauthenticated")
    with agent.client(agent.admin_token) as admin:
        key = fresh_key("frank")
        user = {"name": "frank", "email": "frank@example.org", "public_key": key.public_armor}
        assert admin.post("/users", json=user).status_code == 201
        r = admin.post("/tokens", json={"user": "frank", "role": "public"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
    with agent.client(token) as frank:
        assert frank.get("/projects").status_code == 200
        assert_error(frank.post("/uploads", content=b"x"), 403, "forbidden", "'committer'")


def test_upload_over_the_limit_is_413(agent_factory) -> None:
    small = agent_factory(env={"ATR_MAX_UPLOAD_BYTES": "1000"}, workers=0)
    with small.client(small.committer_token) as c:
        body = assert_error(c.post("/uploads", content=b"x" * 5000), 413, "too_large", "1000")
        assert body["hint"]
        assert upload(c, b"y" * 1000)["size"] == 1000
        # A chunked upload (no Content-Length) is cut off at the limit too.
        r = c.post("/uploads", content=iter([b"z" * 600, b"z" * 600]))
        assert_error(r, 413, "too_large")
    # nothing left but the running agent's own (empty) folder of the temporary area
    leftovers = [
        p for p in (small.data_dir / "tmp").rglob("*") if p.is_file() and p.suffix != ".lock"
    ]
    assert leftovers == []


def test_tasks(agent: AgentProcess) -> None:
    version = new_version()
    with agent.client(agent.committer_token) as c:
        assert c.post(f"/projects/{agent.project}/releases", json={"version": version}).is_success
        task = {"type": "inventory", "project": agent.project, "version": version}
        body = assert_error(c.post("/tasks", json=task), 409, "conflict", "no revision")
        assert body["hint"]
        blob = upload(c, b"content\n")
        assert c.post(
            f"/projects/{agent.project}/releases/{version}/revisions",
            json={"files": {"README": blob["sha256"]}},
        ).is_success
        r = c.post("/tasks", json=task)
        assert r.status_code == 201, r.text
        queued = r.json()
        assert queued["state"] == "queued" and queued["revision"] == 1
        assert queued["created_by"] == "bob"
        done = wait_task(c, queued["id"])
        assert done["state"] == "succeeded", done
        assert done["result"]["total_size"] == 8
        listed = c.get("/tasks", params={"project": agent.project, "version": version}).json()
        # The revision also queued its check tasks (type "check").
        assert [t["id"] for t in listed if t["type"] == "inventory"] == [queued["id"]]
        assert c.get("/tasks", params={"state": "succeeded", "version": version}).json()
        assert_error(c.get("/tasks/999999999"), 404, "not_found")
        assert_error(c.post("/tasks", json={**task, "revision": 5}), 404, "not_found")
        assert_error(c.post("/tasks", json={**task, "type": "nope"}), 422, "invalid")
    with agent.client(agent.other.token) as other:
        assert_error(other.post("/tasks", json=task), 403, "forbidden", "'committer'")


def test_events_paging(agent: AgentProcess) -> None:
    with agent.client(agent.committer_token) as c:
        first = c.get("/events", params={"since": 0, "limit": 3}).json()
        assert len(first["events"]) == 3
        ids = [e["id"] for e in first["events"]]
        assert ids == sorted(ids) and first["next_since"] == ids[-1]
        second = c.get("/events", params={"since": first["next_since"], "limit": 3}).json()
        assert second["events"][0]["id"] > ids[-1]
        scoped = c.get("/events", params={"project": agent.other_project, "limit": 1000}).json()
        assert all(e["project"] == agent.other_project for e in scoped["events"])
        end = c.get("/events", params={"since": 10**9}).json()
        assert end == {"events": [], "next_since": 10**9}
        assert_error(c.get("/events", params={"limit": 0}), 422, "invalid")
        assert_error(c.get("/events", params={"limit": 5000}), 422, "invalid")


def test_tokens(agent: AgentProcess) -> None:
    with agent.client(agent.committer_token) as bob:
        r = bob.post(
            "/tokens", json={"label": "ci", "project": agent.project, "expires_in_days": 5}
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["token"].startswith("atr_") and len(created["token"]) == 47
        assert created["info"]["role"] == "committer" and created["info"]["user"] == "bob"
        ids = [t["id"] for t in bob.get("/tokens").json()]
        assert created["info"]["id"] in ids
        assert all(t["user"] == "bob" for t in bob.get("/tokens").json())
        # Not above one's own role, not for others, not a list of everyone's.
        assert_error(bob.post("/tokens", json={"role": "pmc"}), 400, "invalid", "'pmc'")
        assert_error(bob.post("/tokens", json={"user": "alice"}), 403, "forbidden", "'admin'")
        assert_error(bob.get("/tokens", params={"all": "true"}), 403, "forbidden")
        # The new token works, and only for its project.
        with agent.client(created["token"]) as scoped:
            assert scoped.get("/users/me").json()["name"] == "bob"
            assert scoped.post(
                f"/projects/{agent.project}/releases", json={"version": new_version()}
            ).is_success
        # Revoked: refused at once, naming the reason.
        r = bob.delete(f"/tokens/{created['info']['id']}")
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        with agent.client(created["token"]) as revoked:
            assert_error(revoked.get("/users/me"), 401, "unauthenticated", "revoked")
        # Someone else's token is not found for bob.
        admin_ids = [
            t["id"]
            for t in agent.client(agent.admin_token).get("/tokens").json()
            if t["user"] == "admin"
        ]
        assert_error(bob.delete(f"/tokens/{admin_ids[0]}"), 404, "not_found")
    with agent.client(agent.admin_token) as admin:
        r = admin.post("/tokens", json={"user": "carol", "role": "pmc", "label": "for carol"})
        assert r.status_code == 201 and r.json()["info"]["user"] == "carol"
        assert_error(admin.post("/tokens", json={"user": "carol", "role": "admin"}), 400, "invalid")
        everyone = {t["user"] for t in admin.get("/tokens", params={"all": "true"}).json()}
        assert {"admin", "alice", "bob", "carol"} <= everyone


def test_token_last_used_is_recorded(agent: AgentProcess) -> None:
    with agent.client(agent.pmc_token) as alice:
        alice.get("/users/me")
        mine = alice.get("/tokens").json()
        assert any(t["last_used_at"] is not None for t in mine)


def test_unknown_route_and_method(agent: AgentProcess) -> None:
    with agent.client(agent.admin_token) as c:
        assert_error(c.get("/nothing-here"), 404, "not_found")
        assert c.put("/projects").status_code == 405
