"""Wire models of compliance checks in the agent (issue 3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shared.ids import ProjectKey, Version
from shared.protocol.models import Model

CheckStatus = Literal["blocker", "warning", "note", "pass"]
RunState = Literal["queued", "running", "done", "error"]


class IgnoredBy(Model):
    """Why a result does not count: the project's ignore rule that matched it."""

    rule: int = Field(description="index of the rule in the project's policy.ignores")
    reason: str
    original_status: CheckStatus
    by: str | None = None


class CheckResultOut(Model):
    check: str
    check_version: int
    artifact: str = Field(description="the artifact the run was for; '' for release-scoped checks")
    path: str
    status: CheckStatus
    message: str
    data: dict[str, Any] = {}
    ignored: IgnoredBy | None = None


class CheckRunOut(Model):
    check: str
    check_version: int
    artifact: str
    state: RunState
    task_id: int | None
    reused: bool = Field(description="results copied from an earlier run with the same inputs")
    error: str | None = None
    summary: dict[CheckStatus, int]
    stale: bool = Field(
        default=False,
        description="the policy, keys or check version changed since it ran: rerun to refresh",
    )


class CheckReport(Model):
    """Every check run and result of one revision."""

    project: ProjectKey
    version: Version
    revision: int
    state: Literal["pending", "running", "done"]
    runs: list[CheckRunOut]
    results: list[CheckResultOut]
    summary: dict[CheckStatus, int] = Field(description="counts after ignore rules")
    ignored: int
    blocked: bool = Field(description="a blocker stands: the release cannot move to the vote")
    stale: int = Field(
        default=0,
        description="runs to redo (inputs changed since they ran, or never queued): "
        "POST .../checks/rerun",
    )


class PolicyOut(Model):
    """A project's check policy (shared.checks.policy.Policy as JSON) and who last changed it."""

    project: ProjectKey
    policy: dict[str, Any]
    updated_by: str | None = None
    updated_at: datetime | None = None


class PolicyUpdate(Model):
    policy: dict[str, Any] = Field(description="a full shared.checks.policy.Policy document")
    reason: str = Field(default="", description="why the policy changes (recorded in the event)")


class SbomInfo(Model):
    artifact: str
    sha256: str
    size: int
    url: str
