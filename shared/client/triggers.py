"""The triggers part of :class:`shared.client.AgentClient` (a mixin it inherits): trusted
publishers, trigger settings, next steps and the waiting list, imports, the project's
practice and statistics."""

from __future__ import annotations

from urllib.parse import quote

from shared.client._requests import RequestMethods
from shared.ids import check_key, check_version
from shared.protocol import Task
from shared.protocol.provenance import RevisionBuildOut
from shared.protocol.triggers import (
    ImportDist,
    ReleaseNext,
    ReleasePractice,
    ReleaseStats,
    TriggerSettings,
    TriggerSettingsUpdate,
    TrustedPublisher,
    TrustedPublisherCreate,
    WaitingItem,
)

__all__ = ["TriggersMethods"]


def _project(project: str) -> str:
    return f"/projects/{quote(check_key(project), safe='')}"


class TriggersMethods(RequestMethods):
    """What starts releases by itself, and what waits for people."""

    async def release_next(self, project: str, version: str) -> ReleaseNext:
        check_version(version)
        path = f"{_project(project)}/releases/{quote(version, safe='')}/next"
        return await self._call(ReleaseNext, "GET", path)

    async def waiting(self) -> list[WaitingItem]:
        return await self._call(list[WaitingItem], "GET", "/waiting")

    async def trusted_publishers(self, project: str) -> list[TrustedPublisher]:
        return await self._call(
            list[TrustedPublisher], "GET", f"{_project(project)}/trusted-publishers"
        )

    async def add_trusted_publisher(
        self, project: str, rule: TrustedPublisherCreate
    ) -> TrustedPublisher:
        return await self._call(
            TrustedPublisher, "POST", f"{_project(project)}/trusted-publishers", body=rule
        )

    async def delete_trusted_publisher(self, project: str, rule_id: int) -> TrustedPublisher:
        path = f"{_project(project)}/trusted-publishers/{int(rule_id)}"
        return await self._call(TrustedPublisher, "DELETE", path)

    async def trigger_settings(self, project: str) -> TriggerSettings:
        return await self._call(TriggerSettings, "GET", f"{_project(project)}/trigger-settings")

    async def set_trigger_settings(
        self, project: str, settings: TriggerSettingsUpdate
    ) -> TriggerSettings:
        return await self._call(
            TriggerSettings, "PUT", f"{_project(project)}/trigger-settings", body=settings
        )

    async def import_dist(self, project: str, body: ImportDist) -> Task:
        return await self._call(Task, "POST", f"{_project(project)}/import-dist", body=body)

    async def release_practice(self, project: str) -> ReleasePractice:
        return await self._call(ReleasePractice, "GET", f"{_project(project)}/practice")

    async def release_stats(self, project: str) -> ReleaseStats:
        return await self._call(ReleaseStats, "GET", f"{_project(project)}/stats")

    async def revision_build(self, project: str, version: str, number: int) -> RevisionBuildOut:
        """How a revision was built: its trigger's facts, and its SLSA build record if any."""
        check_version(version)
        path = (
            f"{_project(project)}/releases/{quote(version, safe='')}/revisions/{int(number)}/build"
        )
        return await self._call(RevisionBuildOut, "GET", path)
