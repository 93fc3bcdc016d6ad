"""Tasks: start one (committer of its project), list, and one task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from agent import store
from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from shared.ids import ProjectKey, TaskId, Version
from shared.protocol import Task, TaskCreate, TaskState

router = APIRouter(prefix="/tasks", tags=["tasks"])

State = Annotated[AgentState, Depends(get_state)]


@router.post("", response_model=Task, status_code=201)
def start_task(body: TaskCreate, principal: CurrentPrincipal, state: State) -> Task:
    """Queue a task on a revision (default: the latest; 409 if the release has none)."""
    with state.write(principal) as writer:
        return writer.as_committer(body.project).start_task(body)


@router.get("", response_model=list[Task])
def list_tasks(
    *,
    principal: CurrentPrincipal,
    state: State,
    project: ProjectKey | None = None,
    version: Version | None = None,
    task_state: Annotated[TaskState | None, Query(alias="state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Task]:
    """Newest first (a token limited to one project: that project's tasks only)."""
    project = store.readable_project(principal, project, what="tasks")
    with state.read() as session:
        return store.list_tasks(
            session, project=project, version=version, state=task_state, limit=limit
        )


@router.get("/{task_id}", response_model=Task)
def get_task(task_id: TaskId, principal: CurrentPrincipal, state: State) -> Task:
    """One task (404 for a task of a project the token is not limited to)."""
    with state.read() as session:
        task = store.get_task(session, task_id)
    if principal.token_project not in (None, task.project):
        raise store.NotFound(f"no task with id {task_id}")
    return task
