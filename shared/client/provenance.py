"""The provenance part of :class:`shared.client.AgentClient` (a mixin it inherits).

* :meth:`ProvenanceMethods.attestations` — a release's attestations, verified by the agent
* :meth:`ProvenanceMethods.attestation_bundle` — the JSON Lines bundle (``*.intoto.jsonl``)
* :meth:`ProvenanceMethods.published_keys_pem` — the agent's published keys (public, PEM)
* :meth:`ProvenanceMethods.automation_keys` and the admin methods that manage them
* :meth:`ProvenanceMethods.record_build` — a trusted CI build (admin)
* :meth:`ProvenanceMethods.signing_settings`, :meth:`ProvenanceMethods.start_codesign`, …
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from shared.client._requests import RequestMethods
from shared.ids import check_key, check_version
from shared.protocol.provenance import (
    AutomationKeyOut,
    BuildRecord,
    CertificateInstall,
    CodesignOut,
    CodesignStart,
    KeyGenerate,
    KeyImport,
    KeyRevoke,
    KeyRotate,
    ReleaseAttestations,
    SigningSettings,
)

__all__ = ["KEYS_PATH", "ProvenanceMethods"]

KEYS_PATH = "/.well-known/atr/automation-keys"
"""Where the agent publishes its keys (``.pem`` and ``.json``), at its top level."""


def _release(project: str, version: str) -> str:
    return (
        f"/projects/{quote(check_key(project), safe='')}"
        f"/releases/{quote(check_version(version), safe='')}"
    )


def _key(fingerprint: str) -> str:
    return "/automation-keys/" + quote(fingerprint.strip().lower(), safe="")


class ProvenanceMethods(RequestMethods):
    """Attestations, the agent's automation keys, build records, OS signatures."""

    if TYPE_CHECKING:
        base_url: str

    # --- attestations ------------------------------------------------------------------------

    async def attestations(self, project: str, version: str) -> ReleaseAttestations:
        return await self._call(
            ReleaseAttestations, "GET", _release(project, version) + "/attestations"
        )

    async def attestation_bundle(self, project: str, version: str) -> str:
        """Every attestation of the release, one DSSE envelope per line."""
        response = await self._send("GET", _release(project, version) + "/attestations/bundle")
        return response.text

    # --- automation keys ---------------------------------------------------------------------

    async def published_keys_pem(self) -> str:
        """The agent's published keys (no token needed): current, retired, revoked."""
        response = await self._send("GET", self.base_url + KEYS_PATH + ".pem")
        return response.text

    async def published_keys(self) -> list[AutomationKeyOut]:
        return await self._call(list[AutomationKeyOut], "GET", self.base_url + KEYS_PATH + ".json")

    async def automation_keys(self) -> list[AutomationKeyOut]:
        return await self._call(list[AutomationKeyOut], "GET", "/automation-keys")

    async def generate_automation_key(self, body: KeyGenerate) -> AutomationKeyOut:
        return await self._call(AutomationKeyOut, "POST", "/automation-keys", body=body)

    async def import_automation_key(self, body: KeyImport) -> AutomationKeyOut:
        return await self._call(AutomationKeyOut, "POST", "/automation-keys/import", body=body)

    async def rotate_automation_key(self, fingerprint: str, body: KeyRotate) -> AutomationKeyOut:
        return await self._call(AutomationKeyOut, "POST", _key(fingerprint) + "/rotate", body=body)

    async def revoke_automation_key(self, fingerprint: str, reason: str) -> AutomationKeyOut:
        return await self._call(
            AutomationKeyOut, "POST", _key(fingerprint) + "/revoke", body=KeyRevoke(reason=reason)
        )

    async def automation_key_csr(self, fingerprint: str) -> str:
        response = await self._send("GET", _key(fingerprint) + "/csr")
        return response.text

    async def install_certificate(self, fingerprint: str, pem: str) -> AutomationKeyOut:
        return await self._call(
            AutomationKeyOut,
            "PUT",
            _key(fingerprint) + "/certificate",
            body=CertificateInstall(certificate_pem=pem),
        )

    # --- builds and OS signatures ------------------------------------------------------------

    async def record_build(
        self, project: str, version: str, revision: int, body: BuildRecord
    ) -> BuildRecord:
        return await self._call(
            BuildRecord,
            "PUT",
            _release(project, version) + f"/revisions/{int(revision)}/build",
            body=body,
        )

    async def signing_settings(self, project: str) -> SigningSettings:
        return await self._call(
            SigningSettings, "GET", f"/projects/{quote(check_key(project), safe='')}/signing"
        )

    async def set_signing_settings(self, project: str, body: SigningSettings) -> SigningSettings:
        return await self._call(
            SigningSettings,
            "PUT",
            f"/projects/{quote(check_key(project), safe='')}/signing",
            body=body,
        )

    async def start_codesign(self, project: str, version: str, body: CodesignStart) -> CodesignOut:
        return await self._call(
            CodesignOut, "POST", _release(project, version) + "/codesign", body=body
        )

    async def codesign_runs(self, project: str, version: str) -> list[CodesignOut]:
        return await self._call(list[CodesignOut], "GET", _release(project, version) + "/codesign")
