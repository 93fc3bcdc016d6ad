"""Distribution: settings, the plan, its signed approval, start, status, retry, manual steps,
the announcement; and the registry credentials of the vault (admins).

::

    GET  /projects/{key}/distribution-settings                        → DistributionSettings
    PUT  /projects/{key}/distribution-settings   DistributionSettings  → (PMC)
    GET  /projects/{key}/releases/{version}/distribution               → DistributionStatus
    GET  …/distribution/plan?kind=production|staging                   → DistributionPlan
    POST …/distribution/approval                 ApprovalCast          → ApprovalOut
    POST …/distribution/start                    DistributionStart     → DistributionStatus
    POST …/distribution/channels/{channel}/retry                       → DistributionStatus
    POST …/distribution/manual/{number}/done                           → DistributionStatus
    POST …/announce                              ReleaseAnnounce       → DistributionStatus
    POST …/archive                               ReleaseArchive        → DistributionStatus
    GET  /credentials, PUT|DELETE /credentials/{name}                  (admin; never a secret)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.distribute import credentials
from agent.distribute.service import DistributionService
from shared.ids import Id, ProjectKey, Version
from shared.protocol.distribute import (
    ApprovalCast,
    ApprovalOut,
    CredentialInfo,
    CredentialSet,
    DistributionKind,
    DistributionPlan,
    DistributionSettings,
    DistributionStart,
    DistributionStatus,
    ReleaseAnnounce,
    ReleaseArchive,
)

router = APIRouter(tags=["distribution"])

State = Annotated[AgentState, Depends(get_state)]
RELEASE = "/projects/{key}/releases/{version}"


def get_distribution(request: Request) -> DistributionService:
    """The app's :class:`DistributionService`."""
    service: DistributionService = request.app.state.distribution
    return service


Service = Annotated[DistributionService, Depends(get_distribution)]


@router.get("/projects/{key}/distribution-settings", response_model=DistributionSettings)
def get_settings(
    key: ProjectKey, _principal: CurrentPrincipal, service: Service
) -> DistributionSettings:
    """Where the project's releases go besides the dist repository, and the manual steps."""
    return service.get_settings(key)


@router.put("/projects/{key}/distribution-settings", response_model=DistributionSettings)
def put_settings(
    key: ProjectKey, body: DistributionSettings, principal: CurrentPrincipal, service: Service
) -> DistributionSettings:
    """PMC: replace the channels and manual steps (a changed plan needs a new approval)."""
    return service.put_settings(principal, key, body)


@router.get(RELEASE + "/distribution", response_model=DistributionStatus)
def get_status(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, service: Service
) -> DistributionStatus:
    """Every channel and file of the release's distribution, with its state and URL."""
    return service.status(key, version)


@router.get(RELEASE + "/distribution/plan", response_model=DistributionPlan)
def get_plan(
    key: ProjectKey,
    version: Version,
    _principal: CurrentPrincipal,
    service: Service,
    kind: Annotated[DistributionKind, Query()] = "production",
) -> DistributionPlan:
    """The plan the agent would execute now; its canonical text (``shared.distribute.plan_text``)
    is what the approver clear-signs."""
    return service.plan(key, version, kind)


@router.post(RELEASE + "/distribution/approval", response_model=ApprovalOut, status_code=201)
def approve(
    key: ProjectKey,
    version: Version,
    body: ApprovalCast,
    principal: CurrentPrincipal,
    service: Service,
) -> ApprovalOut:
    """PMC or the release manager: the plan's text, clear-signed with a registered key."""
    return service.approve(principal, key, version, body)


@router.post(RELEASE + "/distribution/start", response_model=DistributionStatus)
def start(
    key: ProjectKey,
    version: Version,
    body: DistributionStart,
    principal: CurrentPrincipal,
    service: Service,
) -> DistributionStatus:
    """Start the approved production distribution, or stage the candidate (``kind``)."""
    return service.start(principal, key, version, body.kind)


@router.post(RELEASE + "/distribution/channels/{channel}/retry", response_model=DistributionStatus)
def retry(
    key: ProjectKey, version: Version, channel: str, principal: CurrentPrincipal, service: Service
) -> DistributionStatus:
    """Try the channel's failed files again."""
    return service.retry(principal, key, version, channel)


@router.post(RELEASE + "/distribution/manual/{number}/done", response_model=DistributionStatus)
def manual_done(
    key: ProjectKey, version: Version, number: Id, principal: CurrentPrincipal, service: Service
) -> DistributionStatus:
    """Mark a manual step (1-based) done."""
    return service.mark_manual(principal, key, version, number)


@router.post(RELEASE + "/announce", response_model=DistributionStatus)
def announce(
    key: ProjectKey,
    version: Version,
    body: ReleaseAnnounce,
    principal: CurrentPrincipal,
    service: Service,
) -> DistributionStatus:
    """Send the [ANNOUNCE] mail: only once the distribution is verified and the manual steps
    are done, and the files have been on the dist repository for the announce delay."""
    return service.announce(principal, key, version, body)


@router.post(RELEASE + "/archive", response_model=DistributionStatus)
def archive(
    key: ProjectKey,
    version: Version,
    body: ReleaseArchive,
    principal: CurrentPrincipal,
    service: Service,
) -> DistributionStatus:
    """Move an announced release to ``archived`` by hand."""
    return service.archive(principal, key, version, body.reason)


@router.get("/credentials", response_model=list[CredentialInfo])
def list_credentials(principal: CurrentPrincipal, state: State) -> list[CredentialInfo]:
    """Admin: the vault's registry credentials, without their secrets."""
    with state.read() as session:
        return credentials.list_credentials(session, principal)


@router.put("/credentials/{name}", response_model=CredentialInfo)
def put_credential(
    name: str, body: CredentialSet, principal: CurrentPrincipal, state: State
) -> CredentialInfo:
    """Admin: store a registry credential, encrypted, bound to its channels."""
    with state.transaction() as session:
        return credentials.set_credential(session, state.settings, principal, name, body)


@router.delete("/credentials/{name}", response_model=CredentialInfo)
def delete_credential(name: str, principal: CurrentPrincipal, state: State) -> CredentialInfo:
    with state.transaction() as session:
        return credentials.delete_credential(session, principal, name)
