"""``GET /events``: the event log, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from agent import store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from shared.ids import MAX_ID, ProjectKey, Version
from shared.protocol import EventPage

router = APIRouter(prefix="/events", tags=["events"])

State = Annotated[AgentState, Depends(get_state)]


@router.get("", response_model=EventPage)
def list_events(
    *,
    principal: CurrentPrincipal,
    state: State,
    since: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=store.MAX_EVENT_PAGE)] = 100,
    project: ProjectKey | None = None,
    version: Version | None = None,
) -> EventPage:
    """Events with ``id > since`` in id order; pass ``next_since`` back for the next page.
    A token limited to one project reads that project's events only."""
    project = store.readable_project(principal, project, what="events")
    with state.read() as session:
        return store.list_events(
            session, since=since, limit=limit, project=project, version=version
        )
