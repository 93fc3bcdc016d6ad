"""The agent's published automation keys: one PEM file, each key with its standing.

The agent publishes its attestation keys (public keys) and code-signing certificates at a
well-known URL (``/.well-known/atr/automation-keys.pem``) as one PEM file. Before each
block, a comment line says what the key is and where it stands, so that a verifier
holding only this file tells a retired key (replaced, still good for what it signed) from
a revoked one (not to be trusted)::

    # atr-key: fingerprint=3f5c… use=attestation algorithm=ed25519 state=active not-after=2028-…
    -----BEGIN PUBLIC KEY-----
    …
    -----END PUBLIC KEY-----
    # atr-key: fingerprint=91ab… use=attestation state=revoked revoked=2026-… reason="…"
    -----BEGIN PUBLIC KEY-----

A PEM block without such a line (a key a user saved by hand) counts as an active
attestation key. The fingerprint (the DSSE ``keyid``) is the SHA-256 of the key's DER
SubjectPublicKeyInfo, so ``openssl pkey -pubin -outform DER | sha256sum`` gives it too; a
comment naming another fingerprint than its block's is refused.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from shared.errors import ValidationError

__all__ = [
    "MARKER",
    "PublishedKey",
    "algorithm_of",
    "fingerprint_of",
    "parse_published_keys",
    "render_published_keys",
]

MARKER = "# atr-key:"
_BLOCK = re.compile(r"-----BEGIN (PUBLIC KEY|CERTIFICATE)-----\s.*?-----END \1-----", re.DOTALL)


def fingerprint_of(public_key: PublicKeyTypes) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def algorithm_of(public_key: PublicKeyTypes) -> str:
    """``ed25519``, ``ecdsa-p256``, ``rsa-3072``… (the names the agent uses)."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}.get(
            public_key.curve.name, f"ecdsa-{public_key.curve.name}"
        )
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}"
    return type(public_key).__name__


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """One key of the published file, with its standing as the agent published it."""

    fingerprint: str
    public_key: PublicKeyTypes
    use: str = "attestation"
    algorithm: str = ""
    state: str = "active"
    not_before: datetime | None = None
    not_after: datetime | None = None
    retired_at: datetime | None = None
    revoked_at: datetime | None = None
    reason: str = ""
    certificate: x509.Certificate | None = None
    pem: str = ""

    @property
    def revoked(self) -> bool:
        return self.state == "revoked"

    def standing(self) -> str:
        """How a verifier tells this key's standing to a person."""
        short = self.fingerprint[:16]
        if self.revoked:
            when = f" on {self.revoked_at:%Y-%m-%d}" if self.revoked_at else ""
            why = f": {self.reason}" if self.reason else ""
            return f"the agent key {short}… was REVOKED{when}{why}"
        if self.state == "retired":
            when = f" on {self.retired_at:%Y-%m-%d}" if self.retired_at else ""
            return f"the agent key {short}… (retired{when}, still valid for what it signed)"
        return f"the agent key {short}… ({self.state})"


def _time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"the key comment's time {text!r} is not ISO 8601") from exc


def _fields(line: str) -> dict[str, str]:
    try:
        tokens = shlex.split(line[len(MARKER) :])
    except ValueError as exc:
        raise ValidationError(f"cannot read the key comment {line[:80]!r}: {exc}") from exc
    fields: dict[str, str] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if sep:
            fields[name] = value
    return fields


def _load_block(block: str) -> tuple[PublicKeyTypes, x509.Certificate | None]:
    data = block.encode()
    try:
        if block.startswith("-----BEGIN CERTIFICATE-----"):
            cert = x509.load_pem_x509_certificate(data)
            return cert.public_key(), cert
        return serialization.load_pem_public_key(data), None
    except ValueError as exc:
        raise ValidationError(f"a PEM block of the key file cannot be read: {exc}") from exc


def parse_published_keys(text: str) -> list[PublishedKey]:
    """Every key of a published key file (see the module docstring)."""
    keys: list[PublishedKey] = []
    pending: dict[str, str] | None = None
    position = 0
    lines_before: list[tuple[int, str]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.startswith(MARKER):
            lines_before.append((offset, line.strip()))
        offset += len(line)
    for match in _BLOCK.finditer(text):
        comments = [c for at, c in lines_before if position <= at < match.start()]
        pending = _fields(comments[-1]) if comments else None
        position = match.end()
        public_key, cert = _load_block(match.group(0))
        computed = fingerprint_of(public_key)
        fields = pending or {}
        claimed = fields.get("fingerprint", computed).lower()
        if claimed != computed:
            raise ValidationError(
                f"the key file names a key {claimed[:16]}… whose PEM block is another key "
                f"({computed[:16]}…): the file was changed",
                hint="download the agent's keys again (atr attestation key -o KEYS.pem)",
            )
        keys.append(
            PublishedKey(
                fingerprint=computed,
                public_key=public_key,
                use=fields.get("use", "attestation"),
                algorithm=fields.get("algorithm", algorithm_of(public_key)),
                state=fields.get("state", "active"),
                not_before=_time(fields.get("not-before", "")),
                not_after=_time(fields.get("not-after", "")),
                retired_at=_time(fields.get("retired", "")),
                revoked_at=_time(fields.get("revoked", "")),
                reason=fields.get("reason", ""),
                certificate=cert,
                pem=match.group(0),
            )
        )
    if not keys:
        raise ValidationError(
            "the key file holds no PEM public key or certificate",
            hint="download the agent's keys with: atr attestation key -o KEYS.pem",
        )
    return keys


def _comment(key: PublishedKey) -> str:
    parts = [
        f"fingerprint={key.fingerprint}",
        f"use={key.use}",
        f"algorithm={key.algorithm}",
        f"state={key.state}",
    ]
    for name, value in (
        ("not-before", key.not_before),
        ("not-after", key.not_after),
        ("retired", key.retired_at),
        ("revoked", key.revoked_at),
    ):
        if value is not None:
            parts.append(f"{name}={value.isoformat()}")
    if key.reason:
        parts.append(f"reason={shlex.quote(key.reason)}")
    return f"{MARKER} {' '.join(parts)}"


def render_published_keys(keys: Iterable[PublishedKey], *, origin: str) -> str:
    """The published key file of ``keys`` (the agent's; ``origin`` is its public URL)."""
    lines = [
        f"# The automation keys of the ATR agent at {origin}",
        "# (attestation keys and code-signing certificates; never a private key).",
        "# Verify a release with: atr verify DIR --agent-key THIS_FILE",
        "# A retired key stays valid for what it signed; a revoked key must not be trusted.",
        "",
    ]
    for key in keys:
        lines.append(_comment(key))
        lines.append(key.pem.strip())
        lines.append("")
    return "\n".join(lines)
