"""Revisions of a release: list, create (committer, phase compose), one, and file download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from agent import phases, store
from agent.api.blobs import blob_response
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from shared.ids import ProjectKey, Version, check_relpath
from shared.protocol import BlobInfo, Revision, RevisionCreate

router = APIRouter(prefix="/projects/{key}/releases/{version}/revisions", tags=["revisions"])

State = Annotated[AgentState, Depends(get_state)]


@router.get("", response_model=list[Revision])
def list_revisions(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State
) -> list[Revision]:
    with state.read() as session:
        return store.list_revisions(session, key, version)


@router.post("", response_model=Revision, status_code=201)
def create_revision(
    key: ProjectKey,
    version: Version,
    body: RevisionCreate,
    principal: CurrentPrincipal,
    state: State,
) -> Revision:
    """Committer of the project; the release must be in phase ``compose`` (else 409)."""
    with state.write(principal) as writer:
        return phases.create_revision(writer, key, version, body)


@router.get("/{number}", response_model=Revision)
def get_revision(
    key: ProjectKey, version: Version, number: str, _principal: CurrentPrincipal, state: State
) -> Revision:
    """``number`` is 1, 2, ... or ``latest``."""
    with state.read() as session:
        return store.get_revision(session, key, version, store.parse_revision_number(number))


@router.get("/{number}/files/{path:path}", response_class=FileResponse)
def download_file(
    key: ProjectKey,
    version: Version,
    number: str,
    path: str,
    _principal: CurrentPrincipal,
    state: State,
) -> FileResponse:
    """One file of a revision, streamed."""
    relpath = check_relpath(path)
    with state.read() as session:
        entry = store.revision_file_blob(
            session, key, version, store.parse_revision_number(number), relpath
        )
    info = BlobInfo(sha256=entry.sha256, sha512=entry.sha512, size=entry.size)
    return blob_response(state, info, filename=relpath.rsplit("/", 1)[-1])
