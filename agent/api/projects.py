"""Projects: list, one project, and create (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from agent import store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from shared.ids import CommitteeName, ProjectKey
from shared.protocol import Project, ProjectCreate

router = APIRouter(prefix="/projects", tags=["projects"])

State = Annotated[AgentState, Depends(get_state)]


@router.get("", response_model=list[Project])
def list_projects(
    _principal: CurrentPrincipal, state: State, committee: CommitteeName | None = None
) -> list[Project]:
    with state.read() as session:
        return store.list_projects(session, committee=committee)


@router.get("/{key}", response_model=Project)
def get_project(key: ProjectKey, _principal: CurrentPrincipal, state: State) -> Project:
    with state.read() as session:
        return store.get_project(session, key)


@router.post("", response_model=Project, status_code=201)
def create_project(body: ProjectCreate, principal: CurrentPrincipal, state: State) -> Project:
    """Admin only."""
    with state.write(principal) as writer:
        return writer.as_admin().create_project(body)
