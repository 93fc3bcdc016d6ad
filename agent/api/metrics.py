"""``GET /metrics``: the Prometheus metrics (agent.triggers.metrics; docs/metrics.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from agent.api.deps import AgentState, get_state
from agent.store import NotFound, require_role
from agent.triggers.metrics import Metrics, metrics_response
from shared.protocol import Role

router = APIRouter(tags=["metrics"])

State = Annotated[AgentState, Depends(get_state)]


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, state: State) -> Response:
    """The agent's metrics in the Prometheus text format (no credentials unless the operator
    turned ``metrics_public`` off: then an admin token)."""
    if not state.settings.metrics_public:
        from agent.auth import request_principal  # noqa: PLC0415 - agent.auth imports agent.api

        principal = request_principal(request, state)
        require_role(principal, Role.ADMIN, what="reading the metrics")
    found: Metrics | None = getattr(request.app.state, "metrics", None)
    if found is None:
        raise NotFound("the metrics are not running")
    return await run_in_threadpool(metrics_response, found)
