"""The provenance part of :class:`desktop.session.Session` (a mixin it inherits): attestations,
the agent's published keys, its automation keys and the code-signing runs of a release.

Every method starts a job and returns its task, like the rest of the session; the screens
follow ``attestation.*``, ``automation_key.*`` and ``codesign.*`` events through
:attr:`Session.event_received`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from shared.protocol.provenance import (
    AutomationKeyOut,
    CodesignOut,
    CodesignStart,
    KeyGenerate,
    KeyRotate,
    ReleaseAttestations,
)

if TYPE_CHECKING:
    from desktop.jobs import Jobs
    from shared.client import AgentClient

__all__ = ["ProvenanceCalls"]


class ProvenanceCalls:
    """Calls of the provenance screens (see the module docstring)."""

    if TYPE_CHECKING:
        _jobs: Jobs

        def _need_client(self) -> AgentClient: ...

    def attestations(self, project: str, version: str) -> asyncio.Task[ReleaseAttestations]:
        """A release's attestations (the agent's view; the screen verifies them itself)."""
        return self._jobs.start(self._need_client().attestations(project, version), report=False)

    def published_keys_pem(self) -> asyncio.Task[str]:
        """The agent's published key file (public, the one ``atr verify`` uses)."""
        return self._jobs.start(self._need_client().published_keys_pem(), report=False)

    def automation_keys(self) -> asyncio.Task[list[AutomationKeyOut]]:
        return self._jobs.start(self._need_client().automation_keys(), report=False)

    def generate_automation_key(self, body: KeyGenerate) -> asyncio.Task[AutomationKeyOut]:
        return self._jobs.start(self._need_client().generate_automation_key(body), report=False)

    def rotate_automation_key(
        self, fingerprint: str, body: KeyRotate
    ) -> asyncio.Task[AutomationKeyOut]:
        return self._jobs.start(
            self._need_client().rotate_automation_key(fingerprint, body), report=False
        )

    def revoke_automation_key(
        self, fingerprint: str, reason: str
    ) -> asyncio.Task[AutomationKeyOut]:
        return self._jobs.start(
            self._need_client().revoke_automation_key(fingerprint, reason), report=False
        )

    def codesign_runs(self, project: str, version: str) -> asyncio.Task[list[CodesignOut]]:
        return self._jobs.start(self._need_client().codesign_runs(project, version), report=False)

    def start_codesign(
        self, project: str, version: str, body: CodesignStart
    ) -> asyncio.Task[CodesignOut]:
        return self._jobs.start(
            self._need_client().start_codesign(project, version, body), report=False
        )
