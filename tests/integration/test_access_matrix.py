"""Who may call every operation, generated from the one table the agent enforces.

For each row of :data:`agent.api.access.ACCESS` (the agent refuses to start if a route has
no row, so a new endpoint brings its row or fails every test) the operation is called, on
a real agent, by seven principals: anonymous, a committer of the project, a PMC member of
the project, a PMC member of another committee, an admin, a PMC member's token limited to
another project of the same committee, and a revoked token. Refusals must be 401 (no
usable credentials) or 403 (role or project); everyone else gets past the access check
(any other status: the operation's own answer to an empty request).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from agent.api.access import ACCESS, Who
from tests.support.agent import AgentProcess

pytestmark = pytest.mark.integration

PRINCIPALS = ("anonymous", "committer", "pmc", "other_pmc", "admin", "scoped", "revoked")

# who → the principals refused, with the status
REFUSED: dict[Who, dict[str, int]] = {
    Who.PUBLIC: {},
    Who.USER: {"anonymous": 401, "revoked": 401},
    Who.READ: {"anonymous": 401, "revoked": 401, "scoped": 403},
    Who.UPLOADER: {"anonymous": 401, "revoked": 401},
    Who.COMMITTER: {"anonymous": 401, "revoked": 401, "scoped": 403, "other_pmc": 403},
    Who.PMC: {
        "anonymous": 401,
        "revoked": 401,
        "scoped": 403,
        "other_pmc": 403,
        "committer": 403,
    },
    Who.ADMIN: {
        "anonymous": 401,
        "revoked": 401,
        "scoped": 403,
        "other_pmc": 403,
        "committer": 403,
        "pmc": 403,
    },
}


@pytest.fixture(scope="module")
def world(agent: AgentProcess) -> Iterator[dict[str, str]]:
    """Tokens for the seven principals, and values for every path parameter."""
    with agent.client(agent.admin_token) as admin:
        assert admin.post("/projects", json={"key": "acme-tools", "committee": "acme"}).is_success
        scoped = admin.post(
            "/tokens", json={"user": "alice", "project": "acme-tools", "role": "pmc"}
        ).json()["token"]
        revoked = admin.post("/tokens", json={"user": "alice", "role": "pmc"}).json()
        assert admin.delete(f"/tokens/{revoked['info']['id']}").is_success
        # a token of bob's for DELETE /tokens/{token_id} to revoke (alice and carol get 404)
        throwaway = admin.post("/tokens", json={"user": "bob", "label": "to revoke"}).json()
    with agent.client(agent.committer_token) as bob:
        assert bob.post("/projects/acme-lib/releases", json={"version": "1.0.0"}).is_success
        blob = bob.post("/uploads", content=b"a\n", headers={"X-Atr-Filename": "a.txt"}).json()
        r = bob.post(
            "/projects/acme-lib/releases/1.0.0/revisions", json={"files": {"a.txt": blob["sha256"]}}
        )
        assert r.status_code == 201, r.text
        task_id = bob.get("/tasks", params={"project": "acme-lib"}).json()[0]["id"]
    yield {
        "tokens.committer": agent.committer_token,
        "tokens.pmc": agent.pmc_token,
        "tokens.other_pmc": agent.other.token,
        "tokens.admin": agent.admin_token,
        "tokens.scoped": scoped,
        "tokens.revoked": revoked["token"],
        "key": "acme-lib",
        "version": "1.0.0",
        "number": "1",
        "path": "a.txt",
        "artifact": "a.txt",
        "fingerprint": agent.pmc.key.fingerprint,
        "sha256": blob["sha256"],
        "task_id": str(task_id),
        "token_id": str(throwaway["info"]["id"]),
        "name": "alice",
        "channel": "dist",
        "rule_id": "1",
    }


def _url(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: values[m.group(1)], template)


def _call(agent: AgentProcess, method: str, url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, agent.url + url, headers=headers, timeout=60)


ROWS = sorted(ACCESS.items())
SELF_AUTHENTICATING = frozenset({"POST /api/v1/triggers/webhook/{key}"})
"""Public rows whose request proves itself (an HMAC over the body): without that proof they
answer 401 whoever calls, and no token changes it."""


@pytest.mark.parametrize(("row", "rule"), ROWS, ids=[row for row, _ in ROWS])
def test_who_may_call(agent: AgentProcess, world: dict[str, str], row: str, rule) -> None:
    method, template = row.split(" ", 1)
    url = _url(template, world)
    refused = REFUSED[rule.who]
    for principal in PRINCIPALS:
        token = world.get(f"tokens.{principal}")
        r = _call(agent, method, url, token)
        if principal in refused:
            assert r.status_code == refused[principal], (principal, r.status_code, r.text)
            assert r.json()["code"] in ("unauthenticated", "forbidden")
        elif row in SELF_AUTHENTICATING and r.status_code == 401:
            assert "webhook" in r.json()["message"], r.text  # its own proof is missing
        else:
            assert r.status_code not in (401, 403), (principal, r.status_code, r.text)
            assert r.status_code < 500, (principal, r.status_code, r.text)


def test_every_documented_operation_has_a_row(agent: AgentProcess) -> None:
    doc = httpx.get(f"{agent.url}/openapi.json", timeout=30).json()
    documented = {
        f"{method.upper()} {path}"
        for path, operations in doc["paths"].items()
        for method in operations
    }
    rows = {re.sub(r":path\}", "}", row) for row in ACCESS}
    assert documented <= rows, sorted(documented - rows)
