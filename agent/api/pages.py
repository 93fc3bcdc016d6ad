"""Public pages, at the agent's top level (no credentials):

* ``GET /projects/{key}/candidates/{version}/`` — the candidate page of the release's
  latest vote (HTML);
* ``GET /projects/{key}/candidates/{version}/tally.json`` — its live tally (``Tally``);
* ``GET /projects/{key}/candidates/{version}/{path}`` — a file of the revision voted on,
  or ``{artifact}.cdx.json``, the SBOM the agent made for it: while the vote is open, and
  after it passed until the release is archived (:func:`agent.pages.page.serves_files`);
  otherwise 404 naming where the release is (its download page).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from agent.api.blobs import blob_response
from agent.api.deps import AgentState, get_state
from agent.db import models
from agent.pages.page import (
    candidate_page,
    content_security_policy,
    new_nonce,
    render_page,
    sbom_artifact,
    serves_files,
)
from agent.store import NotFound, release_row
from agent.votes import views
from shared.ids import ProjectKey, Version, check_relpath
from shared.protocol import BlobInfo
from shared.protocol.votes import Tally

router = APIRouter(tags=["pages"])

State = Annotated[AgentState, Depends(get_state)]
CANDIDATE = "/projects/{key}/candidates/{version}"
NO_STORE = {"Cache-Control": "no-store"}


def _links(state: AgentState) -> views.Links:
    return views.Links(state.settings.effective_public_url)


@router.get(CANDIDATE, include_in_schema=False)
def candidate_redirect(key: ProjectKey, version: Version) -> RedirectResponse:
    return RedirectResponse(f"/projects/{key}/candidates/{version}/", status_code=308)


@router.get(CANDIDATE + "/", response_class=HTMLResponse)
def candidate(key: ProjectKey, version: Version, state: State) -> HTMLResponse:
    """The candidate page: banner, artifacts with signature/checksum/SBOM links, KEYS, how to
    verify, and the live tally."""
    with state.read() as session:
        page, _vote = candidate_page(session, key, version, _links(state))
    nonce = new_nonce()
    return HTMLResponse(
        render_page(page, nonce=nonce),
        headers={
            **NO_STORE,
            "Content-Security-Policy": content_security_policy(nonce),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get(CANDIDATE + "/tally.json", response_model=Tally)
def candidate_tally(key: ProjectKey, version: Version, state: State) -> Response:
    """The live tally of the release's latest vote."""
    with state.read() as session:
        release = release_row(session, key, version)
        vote = views.latest_vote(session, release)
        if vote is None:
            raise NotFound(f"{key} {version} has no release candidate under vote")
        tally = views.tally_of(vote)
    return Response(tally.model_dump_json(), media_type="application/json", headers=NO_STORE)


@router.get(CANDIDATE + "/{path:path}", response_class=FileResponse)
def candidate_file(key: ProjectKey, version: Version, path: str, state: State) -> FileResponse:
    """A file of the candidate voted on (or the SBOM the agent made for an artifact)."""
    relpath = check_relpath(path)
    with state.read() as session:
        release = release_row(session, key, version)
        vote = views.latest_vote(session, release)
        if vote is None:
            raise NotFound(f"{key} {version} has no release candidate: no files are served here")
        if not serves_files(vote, release):
            downloads = _links(state).downloads(key)
            if release.phase == "archived":
                raise NotFound(
                    f"{key} {version} was archived: its candidate files are no longer served here",
                    hint=f"get the release from its download page, {downloads}, or the archive",
                )
            raise NotFound(
                f"the vote on {key} {version} {vote.state}: its files are no longer served here",
                hint=f"the project's releases are on {downloads}",
            )
        revision = session.get(models.Revision, vote.revision_id)
        files = {f.path: f.blob for f in revision.files} if revision is not None else {}
        blob = files.get(relpath)
        if blob is None and revision is not None:
            artifact = sbom_artifact(relpath)
            if artifact is not None:
                sbom = session.get(models.RevisionSbom, (revision.id, artifact))
                blob = session.get(models.Blob, sbom.blob_sha256) if sbom is not None else None
        if blob is None:
            raise NotFound(f"the candidate {key} {version} has no file {relpath!r}")
        info = BlobInfo(sha256=blob.sha256, sha512=blob.sha512, size=blob.size)
    return blob_response(state, info, filename=relpath.rsplit("/", 1)[-1])
