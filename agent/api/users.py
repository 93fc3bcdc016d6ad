"""Users: who am I, the list, one user, and creating users (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from agent import store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.store import Unauthenticated
from shared.ids import UserName
from shared.protocol import User, UserCreate

router = APIRouter(prefix="/users", tags=["users"])

State = Annotated[AgentState, Depends(get_state)]


@router.get("/me", response_model=User)
def me(principal: CurrentPrincipal, state: State) -> User:
    if principal.user_id is None:
        raise Unauthenticated("the operator has no user record")
    with state.read() as session:
        return store.get_user(session, principal.name)


@router.get("", response_model=list[User])
def list_users(_principal: CurrentPrincipal, state: State) -> list[User]:
    with state.read() as session:
        return store.list_users(session)


@router.get("/{name}", response_model=User)
def get_user(name: UserName, _principal: CurrentPrincipal, state: State) -> User:
    with state.read() as session:
        return store.get_user(session, name)


@router.post("", response_model=User, status_code=201)
def create_user(body: UserCreate, principal: CurrentPrincipal, state: State) -> User:
    """Admin only."""
    with state.write(principal) as writer:
        return writer.as_admin().create_user(body)
