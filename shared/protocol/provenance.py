"""Wire models of provenance: the agent's automation keys, the attestations of a release, the
build records that make SLSA provenance, and the code-signing steps (Windows, macOS).

An *automation key* is one of the few private keys on the agent host: the attestation key
(Ed25519 or ECDSA P-256) that signs the in-toto attestations, or a code-signing key with its
X.509 certificate. No model here ever carries a private key out of the agent: the import
bodies carry one *in* (their text is never echoed, logged or recorded).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shared.ids import ProjectKey, RelPath, Version
from shared.protocol.models import Model

__all__ = [
    "AttestationKind",
    "AttestationOut",
    "AutomationKeyOut",
    "BuildRecord",
    "CertificateInstall",
    "CodesignFile",
    "CodesignKind",
    "CodesignOut",
    "CodesignStart",
    "KeyAlgorithm",
    "KeyGenerate",
    "KeyImport",
    "KeyRevoke",
    "KeyRotate",
    "KeyState",
    "KeyUse",
    "MacosSigning",
    "ReleaseAttestations",
    "RevisionBuildOut",
    "SigningSettings",
    "Subject",
    "WindowsSigning",
]

KeyUse = Literal["attestation", "codesign"]
"""``attestation``: signs in-toto attestations (DSSE); ``codesign``: an X.509 code-signing
certificate's key, for Authenticode (Windows) and Apple signatures."""
KeyAlgorithm = Literal["ed25519", "ecdsa-p256", "rsa-3072", "rsa-4096"]
KeyState = Literal["pending", "active", "retired", "revoked"]
"""``pending``: a code-signing key waiting for the certificate its CSR asked for; ``active``:
signs from now on (one per use); ``retired``: replaced by a rotation, kept for verification;
``revoked``: must no longer be trusted (what it signed is reported as signed by a revoked
key)."""
AttestationKind = Literal["release", "vote", "slsa", "distribution", "codesign"]
CodesignKind = Literal["windows", "macos"]


class AutomationKeyOut(Model):
    """An automation key as anyone may see it: public parts only."""

    fingerprint: str = Field(
        description="SHA-256 of the public key's DER SubjectPublicKeyInfo (64 hex); the DSSE keyid"
    )
    use: KeyUse
    algorithm: KeyAlgorithm
    state: KeyState
    label: str = ""
    subject: str | None = Field(default=None, description="the certificate's subject, if any")
    issuer: str | None = None
    serial: str | None = None
    self_signed: bool = False
    not_before: datetime | None = None
    not_after: datetime | None = None
    expires_in_days: int | None = Field(
        default=None, description="whole days until not_after (negative: expired)"
    )
    created_at: datetime
    created_by: str
    retired_at: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    public_pem: str
    certificate_pem: str | None = Field(
        default=None, description="the certificate and its chain (PEM), if the key has one"
    )


class KeyGenerate(Model):
    """Make a new automation key (admin). The new key becomes the active one of its use,
    unless it is a code-signing key waiting for its certificate (``certificate: csr``)."""

    use: KeyUse
    algorithm: KeyAlgorithm | None = Field(
        default=None,
        description="default: ed25519 for attestations, rsa-3072 for code signing (what "
        "Authenticode and Apple accept everywhere)",
    )
    days: int = Field(default=730, ge=1, le=3650, description="how long the key is valid")
    subject: str = Field(
        default="",
        max_length=400,
        description="the certificate's subject: a common name, or 'CN=…,O=…,C=…'",
    )
    certificate: Literal["none", "self-signed", "csr"] = Field(
        default="none",
        description="attestation keys need none; a code-signing key gets a self-signed "
        "certificate (tests, internal use) or a CSR for a real CA (the key is 'pending' until "
        "the CA's certificate is installed)",
    )
    label: str = Field(default="", max_length=200)


class KeyImport(Model):
    """Import a key made elsewhere (admin): PEM (private key, then certificate and chain) or
    PKCS#12. The private key is encrypted with the vault's key at once; never returned."""

    use: KeyUse
    pem: str | None = Field(default=None, max_length=262144)
    pkcs12_base64: str | None = Field(default=None, max_length=262144)
    password: str = Field(default="", max_length=1024, description="of the PKCS#12 or PEM key")
    label: str = Field(default="", max_length=200)
    activate: bool = Field(default=True, description="make it the active key of its use")


class KeyRotate(Model):
    """Replace the active key of a use with a new one (admin): the old one is retired (kept for
    verification, with its retirement date)."""

    algorithm: KeyAlgorithm | None = None
    days: int = Field(default=730, ge=1, le=3650)
    subject: str = Field(default="", max_length=400)
    certificate: Literal["none", "self-signed", "csr"] = "none"
    reason: str = Field(default="scheduled rotation", max_length=400)


class KeyRevoke(Model):
    """Revoke a key (admin): what it signed is reported as signed by a revoked key."""

    reason: str = Field(min_length=1, max_length=400)


class CertificateInstall(Model):
    """The certificate a CA issued for a pending key's CSR (PEM; chain after it)."""

    certificate_pem: str = Field(min_length=1, max_length=262144)


class Subject(Model):
    name: str
    digest: dict[str, str]


class AttestationOut(Model):
    """One attestation of a release: its DSSE envelope, the statement inside, and whether the
    envelope verifies now against the key that signed it."""

    id: int
    kind: AttestationKind
    predicate_type: str
    written_at: datetime
    trigger: str = Field(description="what made it: 'vote passed', 'distribution verified', …")
    key_fingerprint: str
    key_state: KeyState
    valid: bool
    problem: str | None = None
    subjects: list[Subject]
    statement: dict[str, Any]
    envelope: dict[str, Any]


class ReleaseAttestations(Model):
    """Every attestation of a release, with the bundle's name and where it is served."""

    project: ProjectKey
    version: Version
    bundle_name: str
    bundle_url: str
    distributed: bool = Field(
        description="whether the bundle went to the dist repository with the release files"
    )
    attestations: list[AttestationOut]
    keys: list[AutomationKeyOut]
    pending: bool = Field(default=False, description="attestations are being written")


class BuildRecord(Model):
    """How a revision was built, recorded by a trusted CI trigger (the triggers module, or an
    admin on its behalf): the facts SLSA provenance v1 is made of."""

    builder_id: str = Field(
        max_length=2048,
        description="the trusted builder, e.g. https://github.com/apache/infra/.github/"
        "workflows/release.yml@refs/heads/main",
    )
    build_type: str = Field(
        default="https://actions.github.io/buildtypes/workflow/v1", max_length=2048
    )
    repository: str = Field(max_length=2048, description="the source repository URL")
    ref: str = Field(default="", max_length=400, description="the tag or branch built")
    commit: str = Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$", description="git commit id")
    workflow: str = Field(default="", max_length=400, description="the workflow file path")
    run_id: str = Field(default="", max_length=200)
    run_url: str = Field(default="", max_length=2048)
    trigger: str = Field(default="", max_length=64, description="the CI event, e.g. 'push'")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    parameters: dict[str, str] = Field(default_factory=dict, max_length=64)


class RevisionBuildOut(Model):
    """How a revision was built, and who vouches for it (GET …/revisions/{n}/build)."""

    revision: int
    source: str = Field(
        description="github-oidc (a workflow that published with its OIDC token), webhook (this "
        "agent, from a pushed tag), svn (a release.toml committed to dist/dev) or admin"
    )
    record: BuildRecord | None = Field(
        default=None, description="the build as SLSA provenance describes it, when known"
    )
    facts: dict[str, Any] = Field(
        default_factory=dict, description="what the trigger verified (OIDC claims, tag, commit…)"
    )
    recorded_by: str
    recorded_at: datetime


class WindowsSigning(Model):
    """Authenticode signatures of the project's Windows files, made before the vote."""

    enabled: bool = False
    key: str | None = Field(
        default=None, description="a code-signing key's fingerprint; default: the active one"
    )
    timestamp_url: str | None = Field(
        default=None, max_length=2048, description="an RFC 3161 timestamp server"
    )
    files: list[str] = Field(default_factory=lambda: ["*.exe", "*.msi", "*.dll"], max_length=32)
    description: str = Field(default="", max_length=200, description="the program's name")
    url: str = Field(default="", max_length=2048, description="the program's web page")


class MacosSigning(Model):
    """Apple code signing and notarization of the project's macOS files, before the vote."""

    enabled: bool = False
    files: list[str] = Field(default_factory=lambda: ["*.dmg", "*.pkg", "*.app.zip"], max_length=32)
    notarize: bool = True


class SigningSettings(Model):
    """A project's optional OS signatures (PMC)."""

    windows: WindowsSigning = Field(default_factory=WindowsSigning)
    macos: MacosSigning = Field(default_factory=MacosSigning)


class CodesignStart(Model):
    kind: CodesignKind
    revision: int | None = Field(default=None, ge=1, description="default: the latest")


class CodesignFile(Model):
    path: RelPath
    state: Literal["pending", "signed", "unchanged", "failed", "manual"]
    message: str = ""
    sha512_before: str = ""
    sha512_after: str = ""


class CodesignOut(Model):
    """One code-signing run: the files of a revision signed into a new revision."""

    id: int
    project: ProjectKey
    version: Version
    kind: CodesignKind
    state: Literal["queued", "running", "done", "failed", "manual"]
    from_revision: int
    to_revision: int | None = None
    method: str = Field(description="osslsigncode, rcodesign, remote, manual")
    files: list[CodesignFile]
    instructions: str = ""
    error: str | None = None
    key_fingerprint: str | None = None
    started_by: str
    created_at: datetime
    finished_at: datetime | None = None
    resign: list[RelPath] = Field(
        default_factory=list,
        description="files whose bytes changed: the release manager signs them again (.asc)",
    )
