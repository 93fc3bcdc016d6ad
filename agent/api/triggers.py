"""Triggers, next steps, imported history, the project page and its statistics.

::

    GET|POST /projects/{key}/trusted-publishers, DELETE …/{rule_id}   rules (PMC writes)
    POST /oidc/exchange                 OidcExchange → OidcToken     (public: the JWT proves)
    GET|PUT  /projects/{key}/trigger-settings                         (PMC writes)
    POST /triggers/webhook/{key}        a GitHub/GitBox delivery     (public: HMAC-verified)
    POST /triggers/svn                  the dist post-commit hook    (public: wakes the watcher)
    GET  /projects/{key}/releases/{version}/next                      → ReleaseNext
    GET  /waiting                                                     → list[WaitingItem]
    POST /projects/{key}/import-dist    ImportDist → Task            (admin)
    GET  /projects/{key}/practice, /projects/{key}/stats              → ReleasePractice, …Stats
    GET  /projects/{key}/  (top level)  the hosted project page
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.engine import queue
from agent.pages.page import content_security_policy, new_nonce
from agent.store import NotFound, project_row, task_to_wire
from agent.triggers import common, nextsteps, oidc, practice, publishers, stats, webhook
from shared.ids import Id, ProjectKey, Version
from shared.protocol import Task, TaskType
from shared.protocol.triggers import (
    ImportDist,
    OidcExchange,
    OidcToken,
    ReleaseNext,
    ReleasePractice,
    ReleaseStats,
    TriggerAccepted,
    TriggerSettings,
    TriggerSettingsUpdate,
    TrustedPublisher,
    TrustedPublisherCreate,
    WaitingItem,
)

router = APIRouter(tags=["triggers"])
hooks_router = APIRouter(tags=["triggers"])
"""The webhook alone: GitHub's payloads may reach 25 MB."""
public_router = APIRouter(tags=["pages"])

State = Annotated[AgentState, Depends(get_state)]
RELEASE = "/projects/{key}/releases/{version}"


def _record_refusal(state: AgentState, refused: common.TriggerRefused) -> None:
    """An authenticated trigger refused is kept in the event log (in its own transaction:
    the refused one was rolled back)."""
    with state.transaction() as session:
        common.record_refusal(session, refused)


# --- trusted publishers and OIDC ------------------------------------------------------------------


@router.get("/projects/{key}/trusted-publishers", response_model=list[TrustedPublisher])
def list_trusted_publishers(
    key: ProjectKey, _principal: CurrentPrincipal, state: State
) -> list[TrustedPublisher]:
    """The workflows that may publish the project's candidates with an OIDC token."""
    with state.read() as session:
        return publishers.list_publishers(session, key)


@router.post("/projects/{key}/trusted-publishers", response_model=TrustedPublisher, status_code=201)
def add_trusted_publisher(
    key: ProjectKey, body: TrustedPublisherCreate, principal: CurrentPrincipal, state: State
) -> TrustedPublisher:
    """PMC: trust a repository's workflow, on the refs given, to publish candidates."""
    with state.transaction() as session:
        return publishers.add_publisher(session, key, body, actor=principal.name)


@router.delete("/projects/{key}/trusted-publishers/{rule_id}", response_model=TrustedPublisher)
def delete_trusted_publisher(
    key: ProjectKey, rule_id: Id, principal: CurrentPrincipal, state: State
) -> TrustedPublisher:
    """PMC: remove a rule that never handed out a token."""
    with state.transaction() as session:
        return publishers.delete_publisher(session, key, rule_id, actor=principal.name)


@router.post("/oidc/exchange", response_model=OidcToken, status_code=201)
def oidc_exchange(body: OidcExchange, state: State) -> OidcToken:
    """A workflow's OIDC token (JWT) → a short-lived upload token of the project a
    trusted-publisher rule names (401: the token; 403: no rule allows the run)."""
    claims = oidc.verified_claims(state.settings, body.token)  # keys fetched outside a write
    try:
        with state.transaction() as session:
            return oidc.exchange(session, state.settings, claims)
    except common.TriggerRefused as refused:
        _record_refusal(state, refused)
        raise refused.error from None


# --- trigger settings, webhooks, the dist watcher -------------------------------------------------


@router.get("/projects/{key}/trigger-settings", response_model=TriggerSettings)
def get_trigger_settings(
    key: ProjectKey, _principal: CurrentPrincipal, state: State
) -> TriggerSettings:
    """How the project's releases may start by themselves (never the webhook secret)."""
    with state.read() as session:
        return common.read_settings(session, key)


@router.put("/projects/{key}/trigger-settings", response_model=TriggerSettings)
def put_trigger_settings(
    key: ProjectKey, body: TriggerSettingsUpdate, principal: CurrentPrincipal, state: State
) -> TriggerSettings:
    """PMC: the git repository, the release-tag pattern, the archive name, the release
    manager, the dist watch, and (write only) the webhook secret."""
    with state.transaction() as session:
        return common.write_settings(session, state.settings, key, body, actor=principal.name)


@hooks_router.post("/triggers/webhook/{key}", response_model=TriggerAccepted, status_code=202)
async def git_webhook(key: ProjectKey, request: Request, state: State) -> JSONResponse:
    """A GitHub/GitBox delivery; HMAC-verified (``X-Hub-Signature-256``) before it is read."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}

    def work() -> tuple[int, TriggerAccepted]:
        try:
            with state.transaction() as session:
                return webhook.handle_delivery(session, state.settings, key, headers, body)
        except common.TriggerRefused as refused:
            _record_refusal(state, refused)
            raise refused.error from None

    status, answer = await run_in_threadpool(work)
    return JSONResponse(answer.model_dump(mode="json"), status_code=status)


@router.post("/triggers/svn", status_code=202)
def svn_hook(request: Request) -> dict[str, Any]:
    """The dist repository's post-commit hook: look at the repository now. The call carries no
    authority — the agent reads the repository itself and acts once per commit."""
    watcher = getattr(request.app.state, "dist_watcher", None)
    if watcher is None:
        raise NotFound("this agent does not watch a dist repository")
    watcher.wake()
    return {"status": "looking", "repository": watcher.url}


# --- next steps -----------------------------------------------------------------------------------


@router.get(RELEASE + "/next", response_model=ReleaseNext)
def release_next(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State
) -> ReleaseNext:
    """What the release waits for, who can do it, and the command that does it."""
    with state.read() as session:
        return nextsteps.release_next(session, key, version)


@router.get("/waiting", response_model=list[WaitingItem])
def waiting(principal: CurrentPrincipal, state: State) -> list[WaitingItem]:
    """The steps waiting for the caller, in every release in progress they may see."""
    with state.read() as session:
        return nextsteps.waiting_for(session, principal)


# --- history, practice, statistics -------------------------------------------------------------


@router.post("/projects/{key}/import-dist", response_model=Task, status_code=202)
def import_dist(
    key: ProjectKey, body: ImportDist, principal: CurrentPrincipal, state: State
) -> Task:
    """Admin: record every past release of an ASF-style dist folder (a task; see its log)."""
    with state.transaction() as session:
        project_row(session, key)
        row = queue.enqueue(
            session,
            TaskType.IMPORT_DIST,
            project=key,
            version=None,
            revision=None,
            args=body.model_dump(mode="json"),
            created_by=principal.name,
            max_attempts=1,
            timeout_seconds=6 * 3600,
        )
        return task_to_wire(row)


@router.get("/projects/{key}/practice", response_model=ReleasePractice)
def release_practice(
    key: ProjectKey, _principal: CurrentPrincipal, state: State
) -> ReleasePractice:
    """The project's release practice: steps, channels, vote rules, release managers,
    manual steps, and what its releases in progress wait for."""
    with state.read() as session:
        return practice.release_practice(session, key)


@router.get("/projects/{key}/stats", response_model=ReleaseStats)
def release_stats(key: ProjectKey, _principal: CurrentPrincipal, state: State) -> ReleaseStats:
    """Release statistics computed from the event log."""
    with state.read() as session:
        return stats.release_stats(session, key)


@public_router.get("/projects/{key}/", response_class=HTMLResponse)
def project_page(key: ProjectKey, state: State) -> HTMLResponse:
    """The hosted project page: how the project releases (no credentials)."""
    nonce = new_nonce()
    with state.read() as session:
        html = practice.render_practice(session, state.settings, key, nonce=nonce)
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(nonce),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
