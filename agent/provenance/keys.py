"""The agent's automation keys: generated or imported, listed, rotated, revoked, published.

Who may do what: the operator (``atr-agent keys automation …``) and admins (REST) manage
them; anyone may read the public parts and the published key file. The private key of
each is stored only encrypted with the vault's key (:mod:`agent.vault`; the fingerprint is
the associated data), decrypted in the worker that signs (:func:`signing_key`) and never
returned, logged or put in an event.

One key per use is ``active`` (a partial unique index holds it): the attestation key signs
every new attestation; the active code-signing key signs Windows and Apple files. Rotating
makes a new active key and retires the old one (kept and published, for verification of
what it signed, with its retirement date). Revoking marks a key as not to be trusted: the
published file says so, and verifiers report what it signed as signed by a revoked key.

With no attestation key at all, the first attestation makes one (Ed25519, an event says
so): the embedded default works at once, like the vault's own key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.engine.events import append_event
from agent.provenance import certs
from agent.store import Conflict, NotFound, Principal, require_role
from agent.vault import Vault
from shared.errors import ValidationError
from shared.protocol import EventKind, Role
from shared.protocol.provenance import (
    AutomationKeyOut,
    CertificateInstall,
    KeyGenerate,
    KeyImport,
    KeyRevoke,
    KeyRotate,
)
from shared.provenance.keys import (
    PublishedKey,
    algorithm_of,
    fingerprint_of,
    render_published_keys,
)

__all__ = [
    "DEFAULT_ALGORITHM",
    "SigningKey",
    "active_key",
    "csr_pem",
    "generate",
    "import_key",
    "install_certificate",
    "key_out",
    "list_keys",
    "published_key_file",
    "revoke",
    "rotate",
    "signing_key",
]

log = logging.getLogger(__name__)

DEFAULT_ALGORITHM = {"attestation": "ed25519", "codesign": "rsa-3072"}
ATTESTATION_ALGORITHMS = frozenset({"ed25519", "ecdsa-p256"})
PUBLISHED_STATES = ("active", "retired", "revoked")
_FINGERPRINT = re.compile(r"^[0-9a-f]{8,64}$")


def _vault(settings: Settings) -> Vault:
    return Vault.open(data_dir=settings.data_dir, key_file=settings.vault_key_file)


def _aad(fingerprint: str) -> str:
    return f"automation-key:{fingerprint}"


def _admin(principal: Principal, what: str) -> None:
    require_role(principal, Role.ADMIN, what=what)


def key_out(row: models.AutomationKey, *, now: datetime | None = None) -> AutomationKeyOut:
    """The public view of a key (never its private part)."""
    moment = now or datetime.now(UTC)
    days = None
    if row.not_after is not None:
        days = int((row.not_after - moment).total_seconds() // 86400)
    return AutomationKeyOut(
        fingerprint=row.fingerprint,
        use=row.use,
        algorithm=row.algorithm,
        state=row.state,
        label=row.label,
        subject=row.subject,
        issuer=row.issuer,
        serial=row.serial,
        self_signed=row.self_signed,
        not_before=row.not_before,
        not_after=row.not_after,
        expires_in_days=days,
        created_at=row.created_at,
        created_by=row.created_by,
        retired_at=row.retired_at,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
        public_pem=row.public_pem,
        certificate_pem=row.certificate_pem,
    )


def _row(session: Session, fingerprint: str, *, lock: bool = False) -> models.AutomationKey:
    wanted = fingerprint.strip().lower().removeprefix("sha256:")
    if not _FINGERPRINT.fullmatch(wanted):
        raise ValidationError(
            f"{fingerprint!r} is not an automation key fingerprint",
            hint="64 hex digits (SHA-256 of the public key), or a unique prefix of at least 8",
        )
    query = select(models.AutomationKey).where(models.AutomationKey.fingerprint == wanted)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        matches = list(
            session.scalars(
                select(models.AutomationKey).where(
                    models.AutomationKey.fingerprint.startswith(wanted)
                )
            )
        )
        if len(matches) == 1:
            return matches[0]
        raise NotFound(
            f"no automation key {fingerprint!r}",
            hint="list them: atr-agent keys automation list",
        )
    return row


def active_key(session: Session, use: str) -> models.AutomationKey | None:
    """The active key of ``use``, if there is one."""
    return session.scalars(
        select(models.AutomationKey).where(
            models.AutomationKey.use == use, models.AutomationKey.state == "active"
        )
    ).first()


def list_keys(session: Session) -> list[AutomationKeyOut]:
    """Every key, the active ones first, then by creation (newest first)."""
    rows = session.scalars(
        select(models.AutomationKey).order_by(models.AutomationKey.created_at.desc())
    )
    order = {"active": 0, "pending": 1, "retired": 2, "revoked": 3}
    return sorted((key_out(r) for r in rows), key=lambda k: (k.use, order[k.state]))


def _check_use(use: str, algorithm: str, certificate: str) -> None:
    if use == "attestation" and algorithm not in ATTESTATION_ALGORITHMS:
        raise ValidationError(
            f"an attestation key is Ed25519 or ECDSA P-256, not {algorithm}",
            hint="--algorithm ed25519 (default) or ecdsa-p256",
        )
    if use == "codesign" and certificate == "none":
        raise ValidationError(
            "a code-signing key needs a certificate",
            hint="a self-signed one (tests) or a CSR for a real CA: --certificate csr",
        )
    if use == "attestation" and certificate != "none":
        raise ValidationError("an attestation key needs no certificate (leave it out)")


def _store(
    session: Session,
    settings: Settings,
    principal: Principal,
    key: PrivateKeyTypes,
    *,
    use: str,
    label: str,
    certificates: list[x509.Certificate],
    csr: x509.CertificateSigningRequest | None,
    not_before: datetime | None,
    not_after: datetime | None,
    activate: bool,
    how: str,
) -> models.AutomationKey:
    """Encrypt and record a key; make it the active one of its use if asked (retiring the
    active one). Records the event."""
    fingerprint = fingerprint_of(key.public_key())
    if session.scalar(
        select(models.AutomationKey.id).where(models.AutomationKey.fingerprint == fingerprint)
    ):
        raise Conflict(f"the automation key {fingerprint[:16]}… is already known")
    now = datetime.now(UTC)
    leaf = certificates[0] if certificates else None
    info = certs.cert_info(leaf) if leaf is not None else None
    if use == "codesign" and info is not None and not info.code_signing:
        raise ValidationError(
            f"the certificate of {info.subject} is not for code signing (no extended key "
            "usage codeSigning)"
        )
    row = models.AutomationKey(
        fingerprint=fingerprint,
        use=use,
        algorithm=algorithm_of(key.public_key()),
        state="pending" if csr is not None else "retired",
        label=label,
        public_pem=certs.public_pem(key),
        certificate_pem="".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates
        )
        or None,
        csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode() if csr is not None else None,
        private_ciphertext=_vault(settings).encrypt(certs.private_der(key), name=_aad(fingerprint)),
        subject=info.subject if info else None,
        issuer=info.issuer if info else None,
        serial=info.serial if info else None,
        self_signed=bool(info and info.self_signed),
        not_before=info.not_before if info else not_before,
        not_after=info.not_after if info else not_after,
        created_at=now,
        created_by=principal.name,
        alarms=[],
    )
    if not activate and csr is None:
        row.retired_at = now
    session.add(row)
    session.flush()
    append_event(
        session,
        EventKind.AUTOMATION_KEY_ADDED,
        actor=principal.name,
        data={
            "fingerprint": fingerprint,
            "use": use,
            "algorithm": row.algorithm,
            "how": how,
            "subject": row.subject,
            "not_after": row.not_after.isoformat() if row.not_after else None,
        },
    )
    if activate and csr is None:
        _activate(session, principal, row, reason=f"new key ({how})")
    return row


def _activate(
    session: Session, principal: Principal, row: models.AutomationKey, *, reason: str
) -> None:
    """Make ``row`` the active key of its use; the one active before is retired."""
    now = datetime.now(UTC)
    before = active_key(session, row.use)
    if before is not None and before.id != row.id:
        before.state = "retired"
        before.retired_at = now
        session.flush()
        append_event(
            session,
            EventKind.AUTOMATION_KEY_ROTATED,
            actor=principal.name,
            data={
                "use": row.use,
                "retired": before.fingerprint,
                "active": row.fingerprint,
                "reason": reason,
            },
        )
    row.state = "active"
    row.activated_at = now
    row.retired_at = None
    session.flush()


def generate(
    session: Session, settings: Settings, principal: Principal, body: KeyGenerate
) -> AutomationKeyOut:
    """A new key of ``body.use`` (admin); see :class:`KeyGenerate`."""
    _admin(principal, "making an automation key")
    algorithm = body.algorithm or DEFAULT_ALGORITHM[body.use]
    _check_use(body.use, algorithm, body.certificate)
    key = certs.generate_private_key(algorithm)
    now = datetime.now(UTC)
    chain: list[x509.Certificate] = []
    csr = None
    subject = body.subject or "ATR agent code signing"
    if body.certificate == "self-signed":
        chain = [certs.self_signed_certificate(key, subject, days=body.days, now=now)]
    elif body.certificate == "csr":
        csr = certs.make_csr(key, subject)
    row = _store(
        session, settings, principal, key, use=body.use, label=body.label, certificates=chain,
        csr=csr, not_before=now, not_after=now + timedelta(days=body.days), activate=True,
        how=f"generated ({body.certificate})" if body.use == "codesign" else "generated",
    )  # fmt: skip
    return key_out(row)


def import_key(
    session: Session, settings: Settings, principal: Principal, body: KeyImport
) -> AutomationKeyOut:
    """A key made elsewhere, from PEM or PKCS#12 (admin)."""
    _admin(principal, "importing an automation key")
    if (body.pem is None) == (body.pkcs12_base64 is None):
        raise ValidationError("give the key as PEM text or as PKCS#12 (base64), one of them")
    if body.pkcs12_base64 is not None:
        try:
            raw = base64.b64decode(body.pkcs12_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("the PKCS#12 data is not base64") from exc
        imported = certs.load_pkcs12(raw, body.password)
    else:
        imported = certs.load_pem_bundle(body.pem or "", body.password)
    _check_use(body.use, imported.algorithm, "none" if body.use == "attestation" else "given")
    if body.use == "codesign" and not imported.certificates:
        raise ValidationError(
            "a code-signing key is imported with its certificate",
            hint="put the certificate (and its chain) after the key in the PEM, or use PKCS#12",
        )
    how = "imported (PKCS#12)" if body.pkcs12_base64 else "imported (PEM)"
    row = _store(
        session, settings, principal, imported.key, use=body.use, label=body.label,
        certificates=imported.certificates, csr=None, not_before=None, not_after=None,
        activate=body.activate, how=how,
    )  # fmt: skip
    return key_out(row)


def rotate(
    session: Session, settings: Settings, principal: Principal, fingerprint: str, body: KeyRotate
) -> AutomationKeyOut:
    """Replace the active key ``fingerprint`` with a new one of the same use (admin). A
    code-signing rotation by CSR leaves the old key active until the new certificate comes."""
    _admin(principal, "rotating an automation key")
    old = _row(session, fingerprint, lock=True)
    if old.state != "active":
        raise Conflict(
            f"the key {old.fingerprint[:16]}… is {old.state}; only the active key is rotated"
        )
    certificate = body.certificate
    if old.use == "codesign" and certificate == "none":
        certificate = "self-signed" if old.self_signed else "csr"
    return generate(
        session,
        settings,
        principal,
        KeyGenerate(
            use=old.use,
            algorithm=body.algorithm or old.algorithm,
            days=body.days,
            subject=body.subject or old.subject or "",
            certificate=certificate,
            label=old.label,
        ),
    )


def revoke(
    session: Session, principal: Principal, fingerprint: str, body: KeyRevoke
) -> AutomationKeyOut:
    """Mark a key revoked (admin): what it signed is reported as signed by a revoked key.
    Revoking the active key leaves its use without one until a new one is made."""
    _admin(principal, "revoking an automation key")
    if not body.reason.strip():
        raise ValidationError("a revocation needs a reason, for the record")
    row = _row(session, fingerprint, lock=True)
    if row.state == "revoked":
        return key_out(row)
    was = row.state
    row.state = "revoked"
    row.revoked_at = datetime.now(UTC)
    row.revocation_reason = body.reason.strip()
    session.flush()
    append_event(
        session,
        EventKind.AUTOMATION_KEY_REVOKED,
        actor=principal.name,
        data={
            "fingerprint": row.fingerprint,
            "use": row.use,
            "was": was,
            "reason": row.revocation_reason,
        },
    )
    return key_out(row)


def csr_pem(session: Session, principal: Principal, fingerprint: str) -> str:
    """The CSR of a pending code-signing key, for the CA (admin)."""
    _admin(principal, "reading a certificate signing request")
    row = _row(session, fingerprint)
    if row.csr_pem is None:
        raise NotFound(f"the key {row.fingerprint[:16]}… has no certificate signing request")
    return row.csr_pem


def install_certificate(
    session: Session, principal: Principal, fingerprint: str, body: CertificateInstall
) -> AutomationKeyOut:
    """Give a pending key the certificate its CSR asked for (admin); it becomes active."""
    _admin(principal, "installing a certificate")
    row = _row(session, fingerprint, lock=True)
    try:
        chain = x509.load_pem_x509_certificates(body.certificate_pem.encode())
    except ValueError as exc:
        raise ValidationError(f"the certificate cannot be read: {exc}") from exc
    leaf = [c for c in chain if fingerprint_of(c.public_key()) == row.fingerprint]
    if not leaf:
        raise ValidationError(
            f"the certificate is not for the key {row.fingerprint[:16]}…",
            hint="install the certificate the CA issued for this key's CSR",
        )
    if row.state not in ("pending", "active"):
        raise Conflict(f"the key {row.fingerprint[:16]}… is {row.state}")
    info = certs.cert_info(leaf[0])
    if row.use == "codesign" and not info.code_signing:
        raise ValidationError(f"the certificate of {info.subject} is not for code signing")
    ordered = [leaf[0], *[c for c in chain if c is not leaf[0]]]
    row.certificate_pem = "".join(
        c.public_bytes(serialization.Encoding.PEM).decode() for c in ordered
    )
    row.subject, row.issuer, row.serial = info.subject, info.issuer, info.serial
    row.self_signed = info.self_signed
    row.not_before, row.not_after = info.not_before, info.not_after
    row.alarms = []
    session.flush()
    append_event(
        session,
        EventKind.AUTOMATION_KEY_CERTIFIED,
        actor=principal.name,
        data={
            "fingerprint": row.fingerprint,
            "subject": info.subject,
            "issuer": info.issuer,
            "not_after": info.not_after.isoformat(),
        },
    )
    if row.state == "pending":
        _activate(session, principal, row, reason="certificate installed")
    return key_out(row)


@dataclass(frozen=True)
class SigningKey:
    """An active key, decrypted, for the one worker that signs with it."""

    fingerprint: str
    algorithm: str
    private_key: PrivateKeyTypes
    certificate_pem: str | None


def _decrypt(settings: Settings, row: models.AutomationKey) -> SigningKey:
    der = _vault(settings).decrypt(row.private_ciphertext, name=_aad(row.fingerprint))
    key = serialization.load_der_private_key(der, None)
    if fingerprint_of(key.public_key()) != row.fingerprint:  # pragma: no cover - AAD binds it
        raise ValidationError(f"the stored key {row.fingerprint[:16]}… is not the one listed")
    return SigningKey(row.fingerprint, row.algorithm, key, row.certificate_pem)


def signing_key(
    session: Session, settings: Settings, use: str, *, fingerprint: str | None = None
) -> SigningKey:
    """The active key of ``use`` (or the key ``fingerprint``, which must be active), decrypted.

    With no attestation key at all, one is made (Ed25519) and recorded; a missing code-signing
    key is an error naming what to do.
    """
    if fingerprint is not None:
        row = _row(session, fingerprint)
        if row.state != "active" or row.use != use:
            raise Conflict(
                f"the {row.use} key {row.fingerprint[:16]}… is {row.state}; it cannot sign "
                f"{use} work",
                hint="choose the active key (atr-agent keys automation list)",
            )
    else:
        found = active_key(session, use)
        if found is None and use == "attestation":
            found = _first_attestation_key(session, settings)
        if found is None:
            raise Conflict(
                f"the agent has no active {use} key",
                hint="make one: atr-agent keys automation generate --use codesign "
                "--certificate csr --subject 'CN=…' (or import one)",
            )
        row = found
    now = datetime.now(UTC)
    if row.not_after is not None and row.not_after < now:
        raise Conflict(
            f"the {use} key {row.fingerprint[:16]}… expired on {row.not_after:%Y-%m-%d}",
            hint="rotate it: atr-agent keys automation rotate " + row.fingerprint[:16],
        )
    return _decrypt(settings, row)


def _first_attestation_key(session: Session, settings: Settings) -> models.AutomationKey | None:
    """Make the agent's first attestation key (in a savepoint: another process may be making
    one at the same moment, and the unique index lets only one be active)."""
    try:
        with session.begin_nested():
            generate(session, settings, Principal.operator(), KeyGenerate(use="attestation"))
    except IntegrityError:
        log.info("another process made the first attestation key at the same moment")
    row = active_key(session, "attestation")
    if row is not None:
        log.warning(
            "made the agent's first attestation key %s (Ed25519); publish it and keep "
            "the vault key safe (see docs/provenance.md)",
            row.fingerprint,
        )
    return row


def published_key_file(session: Session, settings: Settings) -> str:
    """The PEM file of every key anyone may need to verify (active, retired, revoked)."""
    rows = session.scalars(
        select(models.AutomationKey)
        .where(models.AutomationKey.state.in_(PUBLISHED_STATES))
        .order_by(models.AutomationKey.use, models.AutomationKey.created_at)
    )
    keys = []
    for row in rows:
        public = serialization.load_pem_public_key(row.public_pem.encode())
        keys.append(
            PublishedKey(
                fingerprint=row.fingerprint,
                public_key=public,
                use=row.use,
                algorithm=row.algorithm,
                state=row.state,
                not_before=row.not_before,
                not_after=row.not_after,
                retired_at=row.retired_at,
                revoked_at=row.revoked_at,
                reason=row.revocation_reason or "",
                pem=row.certificate_pem.split("-----END CERTIFICATE-----")[0]
                + "-----END CERTIFICATE-----\n"
                if row.certificate_pem
                else row.public_pem,
            )
        )
    return render_published_keys(keys, origin=settings.effective_public_url)
