"""Releases of a project: list, one release, create (committer), change phase."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from agent import phases, store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from shared.ids import ProjectKey, Version
from shared.protocol import Release, ReleaseCreate, TransitionRequest

router = APIRouter(prefix="/projects/{key}/releases", tags=["releases"])

State = Annotated[AgentState, Depends(get_state)]


@router.get("", response_model=list[Release])
def list_releases(key: ProjectKey, _principal: CurrentPrincipal, state: State) -> list[Release]:
    with state.read() as session:
        return store.list_releases(session, key)


@router.post("", response_model=Release, status_code=201)
def create_release(
    key: ProjectKey, body: ReleaseCreate, principal: CurrentPrincipal, state: State
) -> Release:
    """Committer of the project."""
    with state.write(principal) as writer:
        return writer.as_committer(key).create_release(body)


@router.get("/{version}", response_model=Release)
def get_release(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State
) -> Release:
    with state.read() as session:
        return store.get_release(session, key, version)


@router.post("/{version}/transition", response_model=Release)
def transition(
    key: ProjectKey,
    version: Version,
    body: TransitionRequest,
    principal: CurrentPrincipal,
    state: State,
) -> Release:
    """compose ⇄ checks: committer; every other change: PMC. 409 ``invalid_transition``."""
    with state.write(principal) as writer:
        return phases.transition(writer, key, version, body)
