"""Websocket commands about checks (see agent/ws.py): the same calls as the REST routes.

``get_checks {project, version, revision?}`` → CheckReport; ``rerun_checks {project,
version, revision?, all?}`` → CheckReport; ``get_policy {project}`` → PolicyOut;
``list_sboms {project, version, revision?}`` → list[SbomInfo]. ``revision`` is a number
or ``"latest"`` (the default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.api.deps import AgentState
from agent.checks import policy, queries, service
from agent.store import Principal
from shared.ids import ProjectKey, Version

__all__ = ["CHECK_COMMANDS"]


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _ProjectArgs(_Args):
    project: ProjectKey


class _RevisionArgs(_ProjectArgs):
    version: Version
    revision: int | Literal["latest"] = Field(default="latest")

    @property
    def number(self) -> int | None:
        return None if self.revision == "latest" else self.revision


class _RerunArgs(_RevisionArgs):
    all: bool = False


def _get_checks(state: AgentState, _who: Principal, args: dict[str, Any]) -> Any:
    a = _RevisionArgs.model_validate(args)
    with state.read() as session:
        return queries.get_report(session, a.project, a.version, a.number)


def _rerun_checks(state: AgentState, who: Principal, args: dict[str, Any]) -> Any:
    a = _RerunArgs.model_validate(args)
    with state.write(who) as writer:
        service.rerun_checks(writer, a.project, a.version, a.number, everything=a.all)
        return queries.get_report(writer.session, a.project, a.version, a.number)


def _get_policy(state: AgentState, _who: Principal, args: dict[str, Any]) -> Any:
    a = _ProjectArgs.model_validate(args)
    with state.read() as session:
        return policy.get_policy(session, a.project)


def _list_sboms(state: AgentState, _who: Principal, args: dict[str, Any]) -> Any:
    a = _RevisionArgs.model_validate(args)
    with state.read() as session:
        return queries.list_sboms(session, a.project, a.version, a.number)


CHECK_COMMANDS: dict[str, Callable[[AgentState, Principal, dict[str, Any]], Any]] = {
    "get_checks": _get_checks,
    "rerun_checks": _rerun_checks,
    "get_policy": _get_policy,
    "list_sboms": _list_sboms,
}
"""Command name → handler, merged into :data:`agent.ws.COMMANDS`."""
