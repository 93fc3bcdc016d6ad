"""A project's signing keys and its generated KEYS file.

``router`` (under ``/api/v1``):

* ``GET  /projects/{key}/keys`` — the keys, in KEYS order (any authenticated user);
* ``GET  /projects/{key}/keys/{fingerprint}`` — one key;
* ``POST /projects/{key}/keys`` ``KeyAdd`` — publish one key (committer: their own; PMC:
  anyone's); 201 when new, 200 when merged into the stored key;
* ``POST /projects/{key}/keys/import`` ``KeysImport`` → ``KeysImportResult`` (PMC);
* ``POST /projects/{key}/keys/revoke`` ``Revocation`` → ``KeyRevoked`` (owner or PMC);
* ``GET  /projects/{key}/KEYS`` — the KEYS file, public.

``public_router`` serves the same KEYS file at the agent's top level,
``GET /projects/{key}/KEYS``: the stable public URL, no credentials.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from agent import keys as project_keys
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.store import Store
from shared.ids import Fingerprint, ProjectKey
from shared.protocol.keys import (
    KeyAdd,
    KeyRevoked,
    KeysImport,
    KeysImportResult,
    ProjectKeyOut,
    Revocation,
)

router = APIRouter(prefix="/projects/{key}", tags=["keys"])
public_router = APIRouter(tags=["keys"])

State = Annotated[AgentState, Depends(get_state)]

KEYS_MEDIA_TYPE = "text/plain; charset=utf-8"


def _keys(store: Store, state: AgentState) -> project_keys.ProjectKeys:
    return project_keys.ProjectKeys(store.session, store.principal, blob_path=state.blobs.path_for)


@router.get("/keys", response_model=list[ProjectKeyOut])
def list_keys(key: ProjectKey, _principal: CurrentPrincipal, state: State) -> list[ProjectKeyOut]:
    with state.read() as session:
        return project_keys.list_project_keys(session, key)


@router.get("/keys/{fingerprint}", response_model=ProjectKeyOut)
def get_key(
    key: ProjectKey, fingerprint: Fingerprint, _principal: CurrentPrincipal, state: State
) -> ProjectKeyOut:
    with state.read() as session:
        return project_keys.get_project_key(session, key, fingerprint)


@router.post("/keys", response_model=ProjectKeyOut, status_code=201)
def add_key(
    key: ProjectKey,
    body: KeyAdd,
    principal: CurrentPrincipal,
    state: State,
    response: Response,
) -> ProjectKeyOut:
    """Committer of the project (their own key) or PMC (anyone's)."""
    with state.write(principal) as store:
        added, new = _keys(store, state).writer(key).add_key(body)
    if not new:
        response.status_code = 200
    return added


@router.post("/keys/import", response_model=KeysImportResult)
def import_keys(
    key: ProjectKey, body: KeysImport, principal: CurrentPrincipal, state: State
) -> KeysImportResult:
    """PMC of the project. GnuPG reads the file before the write transaction opens."""
    return project_keys.import_keys_file(
        key,
        body,
        principal=principal,
        read=state.read,
        write=state.transaction,
        blob_path=state.blobs.path_for,
    )


@router.post("/keys/revoke", response_model=KeyRevoked)
def revoke_key(
    key: ProjectKey, body: Revocation, principal: CurrentPrincipal, state: State
) -> KeyRevoked:
    """The key's owner (a committer of the project) or PMC."""
    return project_keys.revoke_key(
        key,
        body,
        principal=principal,
        read=state.read,
        write=state.transaction,
        blob_path=state.blobs.path_for,
    )


def keys_file_response(request: Request, state: AgentState, project: str) -> Response:
    """The KEYS file as ``text/plain`` with an ETag (``304`` when it did not change)."""
    with state.read() as session:
        text = project_keys.keys_file(session, project)
    body = text.encode("utf-8")
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return PlainTextResponse(body, media_type=KEYS_MEDIA_TYPE, headers=headers)


@router.get("/KEYS", response_class=PlainTextResponse)
def api_keys_file(key: ProjectKey, request: Request, state: State) -> Response:
    """The project's KEYS file (public: no credentials needed)."""
    return keys_file_response(request, state, key)


@public_router.get("/projects/{key}/KEYS", response_class=PlainTextResponse)
def public_keys_file(key: ProjectKey, request: Request, state: State) -> Response:
    """The project's KEYS file at its stable public URL (no credentials needed)."""
    return keys_file_response(request, state, key)


__all__ = ["KEYS_MEDIA_TYPE", "keys_file_response", "public_router", "router"]
