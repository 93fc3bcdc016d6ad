"""``GET /health``: is the agent up, which version and protocol, the last event id.

Served under the API (``/api/v1/health``) and at the agent's top level (``/health``),
where load balancers and systemd probes look; the answers are the same. The OpenAPI
document lists the API's one.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

from fastapi import APIRouter, Depends

from agent.api.deps import AgentState, get_state
from shared.protocol import Health

router = APIRouter(tags=["health"])
public_router = APIRouter(tags=["health"])
"""``GET /health`` at the agent's top level (mounted by :func:`agent.app.create_app`)."""


def agent_version() -> str:
    """The installed version of the agent."""
    try:
        return version("atr-release-manager")
    except PackageNotFoundError:
        return "0+unknown"


@router.get("/health", response_model=Health)
@public_router.get("/health", response_model=Health, include_in_schema=False)
def health(state: Annotated[AgentState, Depends(get_state)]) -> Health:
    """No authentication needed."""
    return Health(version=agent_version(), last_event_id=state.bus.last_id)
