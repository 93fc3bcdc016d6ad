"""The public download page of a project (no credentials), and the files it links to.

* ``GET /projects/{key}/downloads/`` — every announced release (HTML, agent.pages.downloads);
* ``GET /projects/{key}/downloads/{version}/{path}`` — a published file, or
  ``{artifact}.cdx.json``, its SBOM.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from agent.api.blobs import blob_response
from agent.api.deps import AgentState, get_state
from agent.pages.downloads import download_file, render_downloads
from agent.pages.page import content_security_policy, new_nonce
from agent.store import get_blob
from shared.ids import ProjectKey, Version, check_relpath

router = APIRouter(tags=["pages"])

State = Annotated[AgentState, Depends(get_state)]
DOWNLOADS = "/projects/{key}/downloads"


@router.get(DOWNLOADS, include_in_schema=False)
def downloads_redirect(key: ProjectKey) -> RedirectResponse:
    return RedirectResponse(f"/projects/{key}/downloads/", status_code=308)


@router.get(DOWNLOADS + "/", response_class=HTMLResponse)
def downloads(key: ProjectKey, state: State) -> HTMLResponse:
    """The project's download page: its announced releases, how to verify them."""
    nonce = new_nonce()
    with state.read() as session:
        html = render_downloads(session, state.settings, key, nonce=nonce)
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(nonce),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get(DOWNLOADS + "/{version}/{path:path}", response_class=FileResponse)
def download(key: ProjectKey, version: Version, path: str, state: State) -> FileResponse:
    """A file of a published release (the bytes its dist repository holds)."""
    check_relpath(path)
    with state.read() as session:
        found = download_file(session, key, version, path)
        info = get_blob(session, found.sha256)
    return blob_response(state, info, filename=found.name)
