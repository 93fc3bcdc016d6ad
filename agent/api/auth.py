"""``POST /auth/challenge``, ``/auth/login`` and ``/auth/token``: sign a challenge to log in,
or to get an API token (see :mod:`agent.auth`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from agent import auth
from agent.api.deps import AgentState, get_state
from shared.protocol import (
    ChallengeRequest,
    ChallengeResponse,
    LoginRequest,
    LoginResponse,
    TokenCreated,
)

router = APIRouter(prefix="/auth", tags=["auth"])

State = Annotated[AgentState, Depends(get_state)]


@router.post("/challenge", response_model=ChallengeResponse)
def challenge(body: ChallengeRequest, request: Request, state: State) -> ChallengeResponse:
    """A one-time text for ``user`` to sign (no authentication needed; rate limited)."""
    client = request.client.host if request.client else "unknown"
    return auth.create_challenge(state, body, client=client)


@router.post("/login", response_model=LoginResponse)
def login(body: LoginRequest, state: State) -> LoginResponse:
    """Exchange a signed challenge for a session token."""
    return auth.login(state, body)


@router.post("/token", response_model=TokenCreated, status_code=201)
def token(body: LoginRequest, state: State) -> TokenCreated:
    """Exchange a signed ``token`` challenge for the API token it describes."""
    return auth.create_signed_token(state, body)
