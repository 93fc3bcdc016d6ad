"""Committees (PMCs and podlings): list, and create (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from agent import store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from shared.protocol import Committee, CommitteeCreate

router = APIRouter(prefix="/committees", tags=["committees"])

State = Annotated[AgentState, Depends(get_state)]


@router.get("", response_model=list[Committee])
def list_committees(_principal: CurrentPrincipal, state: State) -> list[Committee]:
    with state.read() as session:
        return store.list_committees(session)


@router.post("", response_model=Committee, status_code=201)
def create_committee(body: CommitteeCreate, principal: CurrentPrincipal, state: State) -> Committee:
    """Admin only."""
    with state.write(principal) as writer:
        return writer.as_admin().create_committee(body)
