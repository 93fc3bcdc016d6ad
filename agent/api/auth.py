"""``POST /auth/challenge`` and ``POST /auth/login``: log in by signing a challenge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from agent import auth
from agent.api.deps import AgentState, get_state
from shared.protocol import ChallengeRequest, ChallengeResponse, LoginRequest, LoginResponse

router = APIRouter(prefix="/auth", tags=["auth"])

State = Annotated[AgentState, Depends(get_state)]


@router.post("/challenge", response_model=ChallengeResponse)
def challenge(body: ChallengeRequest, state: State) -> ChallengeResponse:
    """A one-time text for ``user`` to sign (no authentication needed)."""
    return auth.create_challenge(state, body)


@router.post("/login", response_model=LoginResponse)
def login(body: LoginRequest, state: State) -> LoginResponse:
    """Exchange a signed challenge for a session token."""
    return auth.login(state, body)
