"""Check reports, reruns, SBOMs and the project's check policy.

::

    GET  /projects/{key}/releases/{version}/revisions/{n}/checks          → CheckReport
    POST /projects/{key}/releases/{version}/revisions/{n}/checks/rerun    → CheckReport (committer)
    GET  /projects/{key}/releases/{version}/revisions/{n}/sboms           → list[SbomInfo]
    GET  /projects/{key}/releases/{version}/revisions/{n}/sboms/{artifact} → the CycloneDX JSON
    GET  /projects/{key}/policy                                           → PolicyOut
    PUT  /projects/{key}/policy                      PolicyUpdate         → PolicyOut (PMC)

``n`` is 1, 2, ... or ``latest``.
"""

from __future__ import annotations

import posixpath
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from agent import store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.blobs import BlobNotFound
from agent.checks import policy, queries, service
from shared.ids import ProjectKey, Version, check_relpath
from shared.protocol.checks import CheckReport, PolicyOut, PolicyUpdate, SbomInfo

router = APIRouter(tags=["checks"])

State = Annotated[AgentState, Depends(get_state)]

_REVISION = "/projects/{key}/releases/{version}/revisions/{number}"

CYCLONEDX_JSON = "application/vnd.cyclonedx+json"


@router.get(_REVISION + "/checks", response_model=CheckReport)
def get_checks(
    key: ProjectKey, version: Version, number: str, _principal: CurrentPrincipal, state: State
) -> CheckReport:
    """Every run and result of the revision's checks, with the project's current ignore rules."""
    with state.read() as session:
        return queries.get_report(session, key, version, store.parse_revision_number(number))


@router.post(_REVISION + "/checks/rerun", response_model=CheckReport)
def rerun_checks(
    key: ProjectKey,
    version: Version,
    number: str,
    *,
    principal: CurrentPrincipal,
    state: State,
    everything: Annotated[
        bool, Query(alias="all", description="redo every run, reusing nothing")
    ] = False,
) -> CheckReport:
    """Committer: redo the runs whose inputs changed (policy, keys, check version), that could
    not run, or are missing; with ``all=true`` every run. Answers the report afterwards."""
    parsed = store.parse_revision_number(number)
    with state.write(principal) as writer:
        service.rerun_checks(writer, key, version, parsed, everything=everything)
        return queries.get_report(writer.session, key, version, parsed)


@router.get(_REVISION + "/sboms", response_model=list[SbomInfo])
def list_sboms(
    key: ProjectKey, version: Version, number: str, _principal: CurrentPrincipal, state: State
) -> list[SbomInfo]:
    """The CycloneDX SBOMs stored with the revision (one per source artifact)."""
    with state.read() as session:
        return queries.list_sboms(session, key, version, store.parse_revision_number(number))


@router.get(_REVISION + "/sboms/{artifact:path}", response_class=FileResponse)
def download_sbom(
    key: ProjectKey,
    version: Version,
    number: str,
    artifact: str,
    *,
    _principal: CurrentPrincipal,
    state: State,
) -> FileResponse:
    """The SBOM of one artifact (CycloneDX 1.6 JSON)."""
    relpath = check_relpath(artifact)
    with state.read() as session:
        info = queries.get_sbom(session, key, version, store.parse_revision_number(number), relpath)
    path = state.blobs.path_for(info.sha256)
    if not path.is_file():
        raise BlobNotFound(info.sha256)
    return FileResponse(
        path,
        media_type=CYCLONEDX_JSON,
        filename=posixpath.basename(relpath) + ".cdx.json",
        headers={"X-Atr-Sha256": info.sha256, "X-Atr-Sha512": info.sha512},
    )


@router.get("/projects/{key}/policy", response_model=PolicyOut)
def get_policy(key: ProjectKey, _principal: CurrentPrincipal, state: State) -> PolicyOut:
    """The project's check policy (every field, defaults included)."""
    with state.read() as session:
        return policy.get_policy(session, key)


@router.put("/projects/{key}/policy", response_model=PolicyOut)
def put_policy(
    key: ProjectKey, body: PolicyUpdate, principal: CurrentPrincipal, state: State
) -> PolicyOut:
    """PMC: replace the project's policy (400 naming the field of a bad document)."""
    with state.write(principal) as writer:
        return policy.update_policy(writer, key, body, ceiling=state.settings.archive_ceiling)
