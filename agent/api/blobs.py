"""``GET /blobs/{sha256}``: an uploaded file's bytes, streamed from the blob store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from agent import store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.blobs import BlobNotFound
from shared.ids import Sha256
from shared.protocol import BlobInfo

router = APIRouter(prefix="/blobs", tags=["blobs"])

State = Annotated[AgentState, Depends(get_state)]


def blob_response(
    state: AgentState, info: BlobInfo, *, filename: str | None = None
) -> FileResponse:
    """A streamed response of the blob ``info`` with its digests in headers."""
    path = state.blobs.path_for(info.sha256)
    if not path.is_file():
        raise BlobNotFound(info.sha256)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=filename,
        headers={"X-Atr-Sha256": info.sha256, "X-Atr-Sha512": info.sha512},
    )


@router.get("/{sha256}", response_class=FileResponse)
def download(sha256: Sha256, principal: CurrentPrincipal, state: State) -> FileResponse:
    """The blob's bytes: a file of a release the token may read (404 otherwise)."""
    with state.read() as session:
        info = store.get_blob(session, sha256)
        store.check_blob_readable(session, principal, sha256)
    return blob_response(state, info)
