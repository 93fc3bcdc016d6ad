"""Who may call each operation: one table, enforced for every route before its handler runs.

Every HTTP route the agent serves has one row in :data:`ACCESS`, keyed by
``"METHOD /path/template"``. :func:`guard` is a dependency of every router
(:func:`agent.api.api_router`, the public routers of :mod:`agent.app`); it looks up
the route's row and refuses the request (401 without usable credentials, 403 with a
role too low or a token limited to another project) before the handler runs.
:func:`register` runs when the app is built: a route without a row (or a row
without a route) stops the agent from starting, so an endpoint cannot be added
without saying who may call it. The handlers keep their finer checks (the release
manager of a release, a committer's own key, the owner of a token); the table is the
floor, and ``tests/integration/test_access_matrix.py`` calls every row as seven
principals to prove it.

=============  =======================================================================
who            needs
=============  =======================================================================
``public``     nothing: no credentials are read
``user``       any valid token (whatever its project)
``read``       a valid token whose project, if it has one, is the path's ``{key}``
``uploader``   the committer role on some project (a limited token: on its project)
``committer``  the committer role on the path's project ``{key}``
``pmc``        the PMC role on the path's project ``{key}``
``admin``      the admin role (never through a token limited to a project)
=============  =======================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute

from agent.api.deps import AgentState, get_state
from agent.store import Forbidden, Principal, project_row, require_role
from shared.protocol import Role

__all__ = ["ACCESS", "Rule", "Who", "guard", "register", "route_key", "route_keys"]


class Who(StrEnum):
    """Who may call an operation (see the module docstring)."""

    PUBLIC = "public"
    USER = "user"
    READ = "read"
    UPLOADER = "uploader"
    COMMITTER = "committer"
    PMC = "pmc"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: who may call the operation, and what the handler checks on top."""

    who: Who
    refined: str = ""
    """What the handler checks beyond the table (documented in the OpenAPI description)."""


_P = "/api/v1"
_REL = f"{_P}/projects/{{key}}/releases/{{version}}"
_REV = f"{_REL}/revisions/{{number}}"
_MANAGER = "a PMC member, or the release manager"

ACCESS: dict[str, Rule] = {
    # --- no credentials ---------------------------------------------------------------------
    f"GET {_P}/health": Rule(Who.PUBLIC),
    "GET /health": Rule(Who.PUBLIC),
    f"POST {_P}/auth/challenge": Rule(Who.PUBLIC, "rate limited per user name and address"),
    f"POST {_P}/auth/login": Rule(Who.PUBLIC, "a signature of a registered, unrevoked key"),
    f"POST {_P}/auth/token": Rule(Who.PUBLIC, "a signature of a registered, unrevoked key"),
    f"GET {_P}/projects/{{key}}/KEYS": Rule(Who.PUBLIC),
    "GET /projects/{key}/KEYS": Rule(Who.PUBLIC),
    "GET /projects/{key}/candidates/{version}": Rule(Who.PUBLIC),
    "GET /projects/{key}/candidates/{version}/": Rule(Who.PUBLIC),
    "GET /projects/{key}/candidates/{version}/tally.json": Rule(Who.PUBLIC),
    "GET /projects/{key}/candidates/{version}/{path:path}": Rule(Who.PUBLIC),
    "GET /projects/{key}/downloads": Rule(Who.PUBLIC),
    "GET /projects/{key}/downloads/": Rule(Who.PUBLIC),
    "GET /projects/{key}/downloads/{version}/{path:path}": Rule(Who.PUBLIC),
    "GET /.well-known/atr/automation-keys.pem": Rule(Who.PUBLIC),
    "GET /.well-known/atr/automation-keys.json": Rule(Who.PUBLIC),
    "GET /projects/{key}/attestations/{version}": Rule(
        Who.PUBLIC, "once the vote passed (a security release: once announced)"
    ),
    # --- people, committees, projects ---------------------------------------------------------
    f"GET {_P}/users/me": Rule(Who.USER),
    f"GET {_P}/users": Rule(Who.USER),
    f"GET {_P}/users/{{name}}": Rule(Who.USER),
    f"POST {_P}/users": Rule(Who.ADMIN),
    f"GET {_P}/committees": Rule(Who.USER),
    f"POST {_P}/committees": Rule(Who.ADMIN),
    f"GET {_P}/projects": Rule(Who.USER),
    f"POST {_P}/projects": Rule(Who.ADMIN),
    f"GET {_P}/projects/{{key}}": Rule(Who.READ),
    # --- tokens ------------------------------------------------------------------------------
    f"POST {_P}/tokens": Rule(Who.USER, "no more reach than the calling token; others: admin"),
    f"GET {_P}/tokens": Rule(Who.USER, "one's own tokens; ?all=true: admin"),
    f"DELETE {_P}/tokens/{{token_id}}": Rule(Who.USER, "one's own tokens; an admin: any"),
    # --- keys --------------------------------------------------------------------------------
    f"GET {_P}/projects/{{key}}/keys": Rule(Who.READ),
    f"GET {_P}/projects/{{key}}/keys/{{fingerprint}}": Rule(Who.READ),
    f"POST {_P}/projects/{{key}}/keys": Rule(Who.COMMITTER, "a committer adds only their own"),
    f"POST {_P}/projects/{{key}}/keys/import": Rule(Who.PMC),
    f"POST {_P}/projects/{{key}}/keys/revoke": Rule(Who.COMMITTER, "the key's owner, or PMC"),
    # --- releases, files, tasks, events ------------------------------------------------------
    f"GET {_P}/projects/{{key}}/releases": Rule(Who.READ),
    f"POST {_P}/projects/{{key}}/releases": Rule(Who.COMMITTER),
    f"GET {_REL}": Rule(Who.READ),
    f"POST {_REL}/transition": Rule(Who.COMMITTER, "compose ⇄ checks; any other change: PMC"),
    f"GET {_REL}/revisions": Rule(Who.READ),
    f"POST {_REL}/revisions": Rule(Who.COMMITTER),
    f"GET {_REL}/revisions/{{number}}": Rule(Who.READ),
    f"GET {_REV}/files/{{path:path}}": Rule(Who.READ),
    f"POST {_P}/uploads": Rule(Who.UPLOADER),
    f"GET {_P}/blobs/{{sha256}}": Rule(Who.USER, "a file of a release the token may read"),
    f"POST {_P}/tasks": Rule(Who.USER, "a committer of the task's project"),
    f"GET {_P}/tasks": Rule(Who.USER, "a limited token sees its project's tasks only"),
    f"GET {_P}/tasks/{{task_id}}": Rule(Who.USER, "a task of a project the token may read"),
    f"GET {_P}/events": Rule(Who.USER, "a limited token sees its project's events only"),
    # --- checks and policy -------------------------------------------------------------------
    f"GET {_REV}/checks": Rule(Who.READ),
    f"POST {_REV}/checks/rerun": Rule(Who.COMMITTER),
    f"GET {_REV}/sboms": Rule(Who.READ),
    f"GET {_REV}/sboms/{{artifact:path}}": Rule(Who.READ),
    f"GET {_P}/projects/{{key}}/policy": Rule(Who.READ),
    f"PUT {_P}/projects/{{key}}/policy": Rule(Who.PMC),
    # --- votes -------------------------------------------------------------------------------
    f"POST {_REL}/vote": Rule(Who.COMMITTER, "a PMC member, or the release manager"),
    f"GET {_REL}/vote": Rule(Who.READ),
    f"GET {_REL}/votes": Rule(Who.READ),
    f"GET {_REL}/vote/tally": Rule(Who.READ),
    f"POST {_REL}/vote/ballots": Rule(Who.READ, "binding only for PMC members with a PMC token"),
    f"POST {_REL}/vote/mail": Rule(Who.COMMITTER, "a PMC member, or the release manager"),
    f"GET {_P}/projects/{{key}}/vote-settings": Rule(Who.READ),
    f"PUT {_P}/projects/{{key}}/vote-settings": Rule(Who.PMC),
    f"GET {_P}/votes": Rule(Who.USER, "a limited token sees its project's votes only"),
    f"GET {_P}/outbox": Rule(Who.ADMIN),
    # --- distribution ------------------------------------------------------------------------
    f"GET {_P}/projects/{{key}}/distribution-settings": Rule(Who.READ),
    f"PUT {_P}/projects/{{key}}/distribution-settings": Rule(Who.PMC),
    f"GET {_REL}/distribution": Rule(Who.READ),
    f"GET {_REL}/distribution/plan": Rule(Who.READ),
    f"POST {_REL}/distribution/approval": Rule(Who.COMMITTER, _MANAGER),
    f"POST {_REL}/distribution/start": Rule(Who.COMMITTER, _MANAGER),
    f"POST {_REL}/distribution/channels/{{channel}}/retry": Rule(Who.COMMITTER, _MANAGER),
    f"POST {_REL}/distribution/manual/{{number}}/done": Rule(Who.COMMITTER, _MANAGER),
    f"POST {_REL}/announce": Rule(Who.COMMITTER, _MANAGER),
    f"POST {_REL}/archive": Rule(Who.COMMITTER, _MANAGER),
    f"GET {_P}/credentials": Rule(Who.ADMIN),
    f"PUT {_P}/credentials/{{name}}": Rule(Who.ADMIN),
    f"DELETE {_P}/credentials/{{name}}": Rule(Who.ADMIN),
    # --- provenance: automation keys, attestations, builds, OS signatures ---------------------
    f"GET {_P}/automation-keys": Rule(Who.USER),
    f"POST {_P}/automation-keys": Rule(Who.ADMIN),
    f"POST {_P}/automation-keys/import": Rule(Who.ADMIN),
    f"POST {_P}/automation-keys/{{fingerprint}}/rotate": Rule(Who.ADMIN),
    f"POST {_P}/automation-keys/{{fingerprint}}/revoke": Rule(Who.ADMIN),
    f"GET {_P}/automation-keys/{{fingerprint}}/csr": Rule(Who.ADMIN),
    f"PUT {_P}/automation-keys/{{fingerprint}}/certificate": Rule(Who.ADMIN),
    f"GET {_REL}/attestations": Rule(Who.READ),
    f"GET {_REL}/attestations/bundle": Rule(Who.READ),
    f"GET {_REV}/build": Rule(Who.READ),
    f"PUT {_REV}/build": Rule(Who.ADMIN, "a trusted CI trigger acting for the agent"),
    f"GET {_P}/projects/{{key}}/signing": Rule(Who.READ),
    f"PUT {_P}/projects/{{key}}/signing": Rule(Who.PMC),
    f"POST {_REL}/codesign": Rule(Who.COMMITTER, _MANAGER),
    f"GET {_REL}/codesign": Rule(Who.READ),
    # --- triggers, history, practice, metrics (issue 9) -----------------------------------
    f"GET {_P}/projects/{{key}}/trusted-publishers": Rule(Who.READ),
    f"POST {_P}/projects/{{key}}/trusted-publishers": Rule(Who.PMC),
    f"DELETE {_P}/projects/{{key}}/trusted-publishers/{{rule_id}}": Rule(Who.PMC),
    f"POST {_P}/oidc/exchange": Rule(
        Who.PUBLIC, "the OIDC token of a workflow a trusted-publisher rule allows"
    ),
    f"GET {_P}/projects/{{key}}/trigger-settings": Rule(Who.READ),
    f"PUT {_P}/projects/{{key}}/trigger-settings": Rule(Who.PMC),
    f"POST {_P}/triggers/webhook/{{key}}": Rule(
        Who.PUBLIC, "the body's HMAC (X-Hub-Signature-256) under the project's webhook secret"
    ),
    f"POST {_P}/triggers/svn": Rule(
        Who.PUBLIC, "only makes the agent look at the dist repository; carries no authority"
    ),
    f"GET {_REL}/next": Rule(Who.READ),
    f"GET {_P}/waiting": Rule(Who.USER, "the caller's own steps"),
    f"POST {_P}/projects/{{key}}/import-dist": Rule(Who.ADMIN),
    f"GET {_P}/projects/{{key}}/practice": Rule(Who.READ),
    f"GET {_P}/projects/{{key}}/stats": Rule(Who.READ),
    "GET /projects/{key}/": Rule(Who.PUBLIC),
    "GET /metrics": Rule(Who.PUBLIC, "an admin token when the operator sets metrics_public off"),
}


def route_key(method: str, path: str) -> str:
    """The table key of a route: ``"GET /api/v1/projects/{key}"`` (HEAD counts as GET)."""
    return f"{'GET' if method == 'HEAD' else method} {path}"


def _principal(request: Request, state: AgentState) -> Principal:
    """The request's principal, authenticated once per request (see agent.auth)."""
    from agent.auth import request_principal  # noqa: PLC0415 - agent.auth imports this package

    return request_principal(request, state)


def _project_key(request: Request) -> str:
    key = request.path_params.get("key")
    if not isinstance(key, str):  # pragma: no cover - check_table: project rules need {key}
        raise Forbidden("this operation has no project in its path")
    return key


def _enforce(rule: Rule, request: Request, state: AgentState) -> None:
    if rule.who is Who.PUBLIC:
        return
    principal = _principal(request, state)
    what = "this request"
    match rule.who:
        case Who.USER:
            return
        case Who.ADMIN:
            require_role(principal, Role.ADMIN, what=what)
        case Who.UPLOADER:
            scope = principal.token_project
            if scope is None:
                require_role(principal, Role.COMMITTER, what="uploading files")
            else:
                with state.read() as session:
                    committee = project_row(session, scope).committee.name
                require_role(
                    principal, Role.COMMITTER, what="uploading files", project=scope,
                    committee=committee,
                )  # fmt: skip
        case Who.READ | Who.COMMITTER | Who.PMC:
            key = _project_key(request)
            with state.read() as session:
                committee = project_row(session, key).committee.name
            needed = {Who.READ: Role.PUBLIC, Who.COMMITTER: Role.COMMITTER, Who.PMC: Role.PMC}
            require_role(principal, needed[rule.who], what=what, project=key, committee=committee)


_BY_ENDPOINT: dict[object, Rule] = {}
"""endpoint function → its rule, filled by :func:`register` when the app is built"""


def guard(request: Request, state: Annotated[AgentState, Depends(get_state)]) -> None:
    """Dependency of every router: enforce the route's row of :data:`ACCESS`."""
    route = request.scope.get("route")
    rule = _BY_ENDPOINT.get(getattr(route, "endpoint", None))
    if rule is None:  # fail closed; register() makes this unreachable for the app's routes
        raise Forbidden(f"no access rule for {request.method} {request.url.path}")
    _enforce(rule, request, state)


def route_keys(router: APIRouter, prefix: str) -> dict[str, object]:
    """The table keys of ``router``'s routes when mounted at ``prefix`` → their endpoints."""
    keys: dict[str, object] = {}
    for route in router.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods or ()):
                keys[route_key(method, prefix + route.path)] = route.endpoint
    return keys


def register(mounted: Iterable[tuple[APIRouter, str]]) -> None:
    """Check that the routes of ``mounted`` (router, prefix) and :data:`ACCESS` match, and
    remember each endpoint's rule for :func:`guard`. A route without a row, a row without a
    route, or a project rule on a path without ``{key}`` stops the app from being built."""
    served: dict[str, object] = {}
    for router, prefix in mounted:
        served.update(route_keys(router, prefix))
    missing = sorted(set(served) - set(ACCESS))
    stale = sorted(set(ACCESS) - set(served))
    if missing or stale:
        raise RuntimeError(
            "agent/api/access.py is out of step with the routes: "
            + (f"no row for {', '.join(missing)}" if missing else "")
            + ("; " if missing and stale else "")
            + (f"rows for no route: {', '.join(stale)}" if stale else "")
        )
    for key, endpoint in served.items():
        rule = ACCESS[key]
        if rule.who in (Who.READ, Who.COMMITTER, Who.PMC) and "{key}" not in key:
            raise RuntimeError(f"access rule '{rule.who}' of {key} needs a {{key}} in its path")
        known = _BY_ENDPOINT.setdefault(endpoint, rule)
        if known != rule:
            raise RuntimeError(f"{key} shares its handler with a route of another access rule")
