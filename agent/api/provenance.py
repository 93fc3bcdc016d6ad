"""Provenance: the agent's automation keys, the attestations of a release, build records.

::

    GET  /automation-keys                                   → list[AutomationKeyOut]
    POST /automation-keys                    KeyGenerate    → AutomationKeyOut   (admin)
    POST /automation-keys/import             KeyImport      → AutomationKeyOut   (admin)
    POST /automation-keys/{fingerprint}/rotate  KeyRotate   → AutomationKeyOut   (admin)
    POST /automation-keys/{fingerprint}/revoke  KeyRevoke   → AutomationKeyOut   (admin)
    GET  /automation-keys/{fingerprint}/csr                 → PEM                (admin)
    PUT  /automation-keys/{fingerprint}/certificate  CertificateInstall → AutomationKeyOut (admin)
    GET  /projects/{key}/releases/{version}/attestations        → ReleaseAttestations
    GET  /projects/{key}/releases/{version}/attestations/bundle → JSON Lines
    GET  …/revisions/{number}/build → RevisionBuildOut; PUT (admin) BuildRecord
    GET  /projects/{key}/signing, PUT (PMC)                 SigningSettings
    POST …/codesign                          CodesignStart  → CodesignOut (RM or PMC)
    GET  …/codesign                                         → list[CodesignOut]

and at the agent's top level, without credentials::

    GET /.well-known/atr/automation-keys.pem   the published keys (current, retired, revoked)
    GET /.well-known/atr/automation-keys.json  the same, as list[AutomationKeyOut]
    GET /projects/{key}/attestations/{version} the release's bundle (once its vote passed)

No answer carries a private key: the models have no field for one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select

from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.db import models
from agent.provenance import codesign
from agent.provenance import keys as automation
from agent.provenance.attest import attestation_rows, bundle_name, release_attestations
from agent.provenance.builds import PUBLIC_PHASES, record_build
from agent.store import NotFound, release_row, require_role, revision_row
from shared.ids import Id, ProjectKey, Version
from shared.lifecycle import Phase
from shared.protocol import Role
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
    RevisionBuildOut,
    SigningSettings,
)
from shared.provenance.dsse import bundle_text

router = APIRouter(tags=["provenance"])
public_router = APIRouter(tags=["provenance"])

State = Annotated[AgentState, Depends(get_state)]
RELEASE = "/projects/{key}/releases/{version}"
JSONL = "application/jsonl"
PEM = "application/x-pem-file"


# --- automation keys ---------------------------------------------------------------------------


@router.get("/automation-keys", response_model=list[AutomationKeyOut])
def list_automation_keys(_principal: CurrentPrincipal, state: State) -> list[AutomationKeyOut]:
    """The agent's automation keys: public parts, standing, validity."""
    with state.read() as session:
        return automation.list_keys(session)


@router.post("/automation-keys", response_model=AutomationKeyOut, status_code=201)
def generate_key(body: KeyGenerate, principal: CurrentPrincipal, state: State) -> AutomationKeyOut:
    """Admin: a new attestation or code-signing key (certificate self-signed, or a CSR)."""
    with state.transaction() as session:
        return automation.generate(session, state.settings, principal, body)


@router.post("/automation-keys/import", response_model=AutomationKeyOut, status_code=201)
def import_key(body: KeyImport, principal: CurrentPrincipal, state: State) -> AutomationKeyOut:
    """Admin: a key made elsewhere (PEM or PKCS#12), encrypted at once; never returned."""
    with state.transaction() as session:
        return automation.import_key(session, state.settings, principal, body)


@router.post("/automation-keys/{fingerprint}/rotate", response_model=AutomationKeyOut)
def rotate_key(
    fingerprint: str, body: KeyRotate, principal: CurrentPrincipal, state: State
) -> AutomationKeyOut:
    """Admin: a new active key; the old one is retired (kept for verification)."""
    with state.transaction() as session:
        return automation.rotate(session, state.settings, principal, fingerprint, body)


@router.post("/automation-keys/{fingerprint}/revoke", response_model=AutomationKeyOut)
def revoke_key(
    fingerprint: str, body: KeyRevoke, principal: CurrentPrincipal, state: State
) -> AutomationKeyOut:
    """Admin: what the key signed is reported as signed by a revoked key."""
    with state.transaction() as session:
        return automation.revoke(session, principal, fingerprint, body)


@router.get("/automation-keys/{fingerprint}/csr", response_class=PlainTextResponse)
def key_csr(fingerprint: str, principal: CurrentPrincipal, state: State) -> PlainTextResponse:
    """Admin: the certificate signing request of a pending code-signing key (PEM)."""
    with state.read() as session:
        text = automation.csr_pem(session, principal, fingerprint)
    return PlainTextResponse(text, media_type="application/pkcs10")


@router.put("/automation-keys/{fingerprint}/certificate", response_model=AutomationKeyOut)
def install_certificate(
    fingerprint: str, body: CertificateInstall, principal: CurrentPrincipal, state: State
) -> AutomationKeyOut:
    """Admin: the certificate the CA issued for a pending key; the key becomes active."""
    with state.transaction() as session:
        return automation.install_certificate(session, principal, fingerprint, body)


# --- attestations ------------------------------------------------------------------------------


@router.get(RELEASE + "/attestations", response_model=ReleaseAttestations)
def get_attestations(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State
) -> ReleaseAttestations:
    """Every attestation of the release, each verified now against the key that signed it."""
    with state.read() as session:
        return release_attestations(session, state.settings, key, version)


def _bundle(state: AgentState, key: str, version: str, *, public: bool) -> Response:
    with state.read() as session:
        release = release_row(session, key, version)
        if public:
            security = session.scalar(
                select(models.Vote.id).where(
                    models.Vote.release_id == release.id, models.Vote.security.is_(True)
                )
            )
            if release.phase not in PUBLIC_PHASES or (
                security is not None and release.phase != Phase.ANNOUNCED.value
            ):
                raise NotFound(f"{key} {version} has no published attestations")
        rows = attestation_rows(session, release)
        if not rows:
            raise NotFound(
                f"{key} {version} has no attestations yet",
                hint="they are written when its vote passes",
            )
        text = bundle_text(r.envelope for r in rows)
    name = bundle_name(key, version)
    return Response(
        text,
        media_type=JSONL,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(RELEASE + "/attestations/bundle", response_class=Response)
def get_bundle(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State
) -> Response:
    """Every attestation of the release, one DSSE envelope per line (``*.intoto.jsonl``)."""
    return _bundle(state, key, version, public=False)


@public_router.get("/projects/{key}/attestations/{version}", response_class=Response)
def public_bundle(key: ProjectKey, version: Version, state: State) -> Response:
    """The release's attestations (JSON Lines), public once its vote passed (a security
    release's once announced)."""
    return _bundle(state, key, version, public=True)


# --- build records (the SLSA hook) -------------------------------------------------------------


@router.get(RELEASE + "/revisions/{number}/build", response_model=RevisionBuildOut)
def get_build(
    key: ProjectKey, version: Version, number: Id, _principal: CurrentPrincipal, state: State
) -> RevisionBuildOut:
    """How the revision was built: what its trigger verified (a workflow run, a pushed tag,
    a dist/dev commit) or what an admin recorded, and the build SLSA describes, if any."""
    with state.read() as session:
        release = release_row(session, key, version)
        revision = revision_row(session, release, number)
        row = session.get(models.RevisionBuild, revision.id)
        if row is None:
            raise NotFound(f"no build was recorded for revision {number} of {key} {version}")
        return RevisionBuildOut(
            revision=revision.number,
            source=row.source,
            record=BuildRecord.model_validate(row.record) if row.record else None,
            facts=dict(row.facts or {}),
            recorded_by=row.recorded_by,
            recorded_at=row.recorded_at,
        )


@router.put(RELEASE + "/revisions/{number}/build", response_model=BuildRecord)
def put_build(  # noqa: PLR0917 - FastAPI passes every parameter by name
    key: ProjectKey,
    version: Version,
    number: Id,
    body: BuildRecord,
    principal: CurrentPrincipal,
    state: State,
) -> BuildRecord:
    """Admin (a trusted CI trigger): record how the revision was built; the release's SLSA
    provenance is made from it when its vote passes."""
    require_role(principal, Role.ADMIN, what="recording a trusted build")
    with state.transaction() as session:
        record_build(session, key, version, number, body, actor=principal.name)
    return body


# --- OS signatures (Windows Authenticode, Apple) ----------------------------------------------


@router.get("/projects/{key}/signing", response_model=SigningSettings)
def get_signing(key: ProjectKey, _principal: CurrentPrincipal, state: State) -> SigningSettings:
    """The project's optional OS signatures (Windows, macOS)."""
    with state.read() as session:
        return codesign.get_settings(session, key)


@router.put("/projects/{key}/signing", response_model=SigningSettings)
def put_signing(
    key: ProjectKey, body: SigningSettings, principal: CurrentPrincipal, state: State
) -> SigningSettings:
    """PMC: turn Windows / macOS signing on or off, the timestamp server, the file globs."""
    with state.transaction() as session:
        return codesign.put_settings(session, principal, key, body)


@router.post(RELEASE + "/codesign", response_model=CodesignOut, status_code=201)
def start_codesign(
    key: ProjectKey, version: Version, body: CodesignStart, principal: CurrentPrincipal,
    state: State,
) -> CodesignOut:  # fmt: skip
    """The release manager or a PMC member: sign the revision's Windows or macOS files with the
    agent's code-signing certificate, into a new revision (phase compose)."""
    with state.transaction() as session:
        return codesign.start(session, state.settings, principal, key, version, body=body)


@router.get(RELEASE + "/codesign", response_model=list[CodesignOut])
def list_codesign(
    key: ProjectKey, version: Version, _principal: CurrentPrincipal, state: State
) -> list[CodesignOut]:
    """The release's code-signing runs, oldest first."""
    with state.read() as session:
        return codesign.list_runs(session, key, version)


# --- the published keys ------------------------------------------------------------------------


@public_router.get("/.well-known/atr/automation-keys.pem", response_class=PlainTextResponse)
def published_keys(state: State) -> PlainTextResponse:
    """The agent's attestation keys and code-signing certificates, each with its standing."""
    with state.read() as session:
        text = automation.published_key_file(session, state.settings)
    return PlainTextResponse(
        text,
        media_type=PEM,
        headers={"Content-Disposition": 'inline; filename="automation-keys.pem"'},
    )


@public_router.get("/.well-known/atr/automation-keys.json", response_model=list[AutomationKeyOut])
def published_keys_json(state: State) -> list[AutomationKeyOut]:
    """The same keys as data (never a private part; pending keys are not listed)."""
    with state.read() as session:
        return [k for k in automation.list_keys(session) if k.state != "pending"]
