"""API tokens: create (for yourself, or for anyone as admin), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from agent import store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from shared.ids import Id
from shared.protocol import TokenCreate, TokenCreated, TokenInfo

router = APIRouter(prefix="/tokens", tags=["tokens"])

State = Annotated[AgentState, Depends(get_state)]


@router.post("", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, principal: CurrentPrincipal, state: State) -> TokenCreated:
    """The secret is in the answer only; the agent keeps its hash. The new token reaches no
    further than the one creating it: its project, role and lifetime at most."""
    max_days = state.settings.max_token_days
    with state.write(principal) as writer:
        if body.user is not None and body.user != principal.name:
            return writer.as_admin().create_token(body, max_days=max_days)
        return writer.as_user().create_token(body, max_days=max_days)


@router.get("", response_model=list[TokenInfo])
def list_tokens(
    principal: CurrentPrincipal,
    state: State,
    all_users: Annotated[bool, Query(alias="all")] = False,
) -> list[TokenInfo]:
    """Your tokens (``?all=true``: everyone's, admin only)."""
    with state.read() as session:
        return store.list_tokens(session, principal, all_users=all_users)


@router.delete("/{token_id}", response_model=TokenInfo)
def revoke_token(token_id: Id, principal: CurrentPrincipal, state: State) -> TokenInfo:
    """Revoke one of your tokens (an admin may revoke any)."""
    with state.write(principal) as writer:
        return writer.as_user().revoke_token(token_id)
