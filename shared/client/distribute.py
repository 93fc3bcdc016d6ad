"""The distribution part of :class:`shared.client.AgentClient` (a mixin it inherits).

* :meth:`DistributeMethods.distribution_plan` — the plan to sign (its text:
  :func:`shared.distribute.plan_text`; :func:`sign_plan` clear-signs it with a pgpy key)
* :meth:`DistributeMethods.approve_distribution` — the clear-signed plan
* :meth:`DistributeMethods.start_distribution` — start it (or stage a candidate)
* :meth:`DistributeMethods.distribution_status` — the ``atr distribute status --json`` shape
* :meth:`DistributeMethods.retry_channel`, :meth:`DistributeMethods.mark_manual_done`
* :meth:`DistributeMethods.announce`, :meth:`DistributeMethods.archive`
* :meth:`DistributeMethods.distribution_settings` and ``set_distribution_settings``
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from shared.client._requests import RequestMethods
from shared.distribute import plan_text
from shared.errors import ApiError
from shared.ids import check_key, check_version
from shared.openpgp.cleartext import clear_sign
from shared.protocol.distribute import (
    ApprovalCast,
    ApprovalOut,
    DistributionKind,
    DistributionPlan,
    DistributionSettings,
    DistributionStart,
    DistributionStatus,
    ReleaseAnnounce,
    ReleaseArchive,
)

if TYPE_CHECKING:
    import pgpy

__all__ = ["PLAN_WAIT_SECONDS", "DistributeMethods", "sign_plan"]

PLAN_WAIT_SECONDS = 60.0
"""How long :meth:`DistributeMethods.distribution_plan` waits for a plan that is not ready."""


def _release(project: str, version: str) -> str:
    check_key(project)
    check_version(version)
    return f"/projects/{quote(project, safe='')}/releases/{quote(version, safe='')}"


def sign_plan(key: pgpy.PGPKey, plan: DistributionPlan, *, passphrase: str | None = None) -> str:
    """The clear-signed text of ``plan``, ready for ``approve_distribution``."""
    return clear_sign(key, plan_text(plan), passphrase=passphrase)


class DistributeMethods(RequestMethods):
    """A release's way to its channels."""

    async def distribution_plan(
        self,
        project: str,
        version: str,
        *,
        kind: DistributionKind = "production",
        wait: float = PLAN_WAIT_SECONDS,
    ) -> DistributionPlan:
        """The plan to sign. Right after a vote passed the agent is still writing the files
        the plan includes (the attestations): it says when to ask again, and this asks
        again for up to ``wait`` seconds before giving up with the agent's own error."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return await self._call(
                    DistributionPlan,
                    "GET",
                    _release(project, version) + "/distribution/plan",
                    params={"kind": kind},
                )
            except ApiError as exc:
                pause = exc.retry_after
                if exc.status != 409 or pause is None or time.monotonic() + pause > deadline:
                    raise
                await asyncio.sleep(pause)

    async def approve_distribution(self, project: str, version: str, signed: str) -> ApprovalOut:
        return await self._call(
            ApprovalOut,
            "POST",
            _release(project, version) + "/distribution/approval",
            body=ApprovalCast(signed=signed),
        )

    async def start_distribution(
        self, project: str, version: str, *, kind: DistributionKind = "production"
    ) -> DistributionStatus:
        return await self._call(
            DistributionStatus,
            "POST",
            _release(project, version) + "/distribution/start",
            body=DistributionStart(kind=kind),
        )

    async def distribution_status(self, project: str, version: str) -> DistributionStatus:
        return await self._call(
            DistributionStatus, "GET", _release(project, version) + "/distribution"
        )

    async def retry_channel(self, project: str, version: str, channel: str) -> DistributionStatus:
        path = f"/distribution/channels/{quote(channel, safe='')}/retry"
        return await self._call(DistributionStatus, "POST", _release(project, version) + path)

    async def mark_manual_done(self, project: str, version: str, number: int) -> DistributionStatus:
        path = f"/distribution/manual/{int(number)}/done"
        return await self._call(DistributionStatus, "POST", _release(project, version) + path)

    async def announce(
        self, project: str, version: str, *, force_early: bool = False, reason: str = ""
    ) -> DistributionStatus:
        return await self._call(
            DistributionStatus,
            "POST",
            _release(project, version) + "/announce",
            body=ReleaseAnnounce(force_early=force_early, reason=reason),
        )

    async def archive(self, project: str, version: str, *, reason: str = "") -> DistributionStatus:
        return await self._call(
            DistributionStatus,
            "POST",
            _release(project, version) + "/archive",
            body=ReleaseArchive(reason=reason),
        )

    async def distribution_settings(self, project: str) -> DistributionSettings:
        check_key(project)
        return await self._call(
            DistributionSettings, "GET", f"/projects/{project}/distribution-settings"
        )

    async def set_distribution_settings(
        self, project: str, settings: DistributionSettings
    ) -> DistributionSettings:
        check_key(project)
        return await self._call(
            DistributionSettings, "PUT", f"/projects/{project}/distribution-settings", body=settings
        )
