"""Keys and X.509 certificates with ``cryptography``: generate, request (CSR), self-sign,
import (PEM, PKCS#12), describe.

Nothing here stores or logs a private key; :mod:`agent.provenance.keys` encrypts it with the
vault before it reaches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.errors import ValidationError
from shared.provenance.keys import algorithm_of, fingerprint_of

__all__ = [
    "CertInfo",
    "ImportedKey",
    "cert_info",
    "generate_private_key",
    "load_pem_bundle",
    "load_pkcs12",
    "make_csr",
    "parse_subject",
    "private_der",
    "public_pem",
    "self_signed_certificate",
]

_ATTRS = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
}
_RDN = re.compile(r"^\s*([A-Za-z]+)\s*=\s*(.+?)\s*$")


def generate_private_key(algorithm: str) -> PrivateKeyTypes:
    """A new private key: ``ed25519``, ``ecdsa-p256``, ``rsa-3072`` or ``rsa-4096``."""
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm in ("rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    raise ValidationError(
        f"{algorithm!r} is not a key algorithm this agent makes",
        hint="ed25519, ecdsa-p256, rsa-3072 or rsa-4096",
    )


def parse_subject(text: str) -> x509.Name:
    """A distinguished name from ``CN=…,O=…,C=…`` (or a bare common name)."""
    text = text.strip()
    if not text:
        raise ValidationError("a certificate needs a subject (a common name, or 'CN=…,O=…')")
    if "=" not in text:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])
    attributes = []
    for part in text.split(","):
        match = _RDN.match(part)
        if match is None or match.group(1).upper() not in _ATTRS:
            raise ValidationError(
                f"cannot read {part.strip()!r} of the subject",
                hint=f"use {', '.join(_ATTRS)} (e.g. 'CN=Apache Acme,O=The Apache Software "
                "Foundation,C=US')",
            )
        attributes.append(x509.NameAttribute(_ATTRS[match.group(1).upper()], match.group(2)))
    try:
        return x509.Name(attributes)
    except ValueError as exc:
        raise ValidationError(f"the subject {text!r} is not valid: {exc}") from exc


def _signing_hash(key: PrivateKeyTypes) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _issuer_key(key: PrivateKeyTypes) -> CertificateIssuerPrivateKeyTypes:
    if not isinstance(
        key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
    ):
        raise ValidationError(f"a {type(key).__name__} cannot sign a certificate here")
    return key


def _code_signing_extensions(
    builder: x509.CertificateBuilder | x509.CertificateSigningRequestBuilder,
) -> x509.CertificateBuilder | x509.CertificateSigningRequestBuilder:
    builder = builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        ),
        critical=True,
    )  # fmt: skip
    return builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
    )


def self_signed_certificate(
    key: PrivateKeyTypes, subject: str, *, days: int, now: datetime | None = None
) -> x509.Certificate:
    """A self-signed code-signing certificate (for tests and internal use, not for the
    public: Windows and macOS do not trust it)."""
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    name = parse_subject(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    built = _code_signing_extensions(builder)
    assert isinstance(built, x509.CertificateBuilder)
    return built.sign(_issuer_key(key), _signing_hash(key))


def make_csr(key: PrivateKeyTypes, subject: str) -> x509.CertificateSigningRequest:
    """A certificate signing request for a code-signing certificate, for a real CA."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(parse_subject(subject))
    built = _code_signing_extensions(builder)
    assert isinstance(built, x509.CertificateSigningRequestBuilder)
    return built.sign(_issuer_key(key), _signing_hash(key))


def private_der(key: PrivateKeyTypes) -> bytes:
    """PKCS#8 DER of ``key``, unencrypted: only ever handed to the vault."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: PrivateKeyTypes) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    self_signed: bool
    code_signing: bool


def _name(name: x509.Name) -> str:
    """A distinguished name as people write it, common name first: ``CN=…,O=…,C=…``."""
    return ",".join(rdn.rfc4514_string() for rdn in name.rdns)


def cert_info(cert: x509.Certificate) -> CertInfo:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        code_signing = ExtendedKeyUsageOID.CODE_SIGNING in eku
    except x509.ExtensionNotFound:
        code_signing = False
    return CertInfo(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_signed=cert.issuer == cert.subject,
        code_signing=code_signing,
    )


@dataclass(frozen=True)
class ImportedKey:
    key: PrivateKeyTypes
    certificates: list[x509.Certificate]
    """Leaf first (the one whose public key is the key's), then the chain."""

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.key.public_key())

    @property
    def algorithm(self) -> str:
        return algorithm_of(self.key.public_key())


def _order(key: PrivateKeyTypes, certs: list[x509.Certificate]) -> list[x509.Certificate]:
    """Leaf first; refuse certificates none of which is the key's."""
    if not certs:
        return []
    mine = fingerprint_of(key.public_key())
    leaf = [c for c in certs if fingerprint_of(c.public_key()) == mine]
    if not leaf:
        raise ValidationError(
            "none of the certificates given is for the private key given",
            hint="give the key with its own certificate (and the chain after it)",
        )
    return [leaf[0], *[c for c in certs if c is not leaf[0]]]


def load_pem_bundle(text: str, password: str = "") -> ImportedKey:
    """A private key (PKCS#8 or traditional PEM, encrypted or not) and the certificates after it."""
    data = text.encode()
    match = re.search(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", data,
                      re.DOTALL)  # fmt: skip
    if match is None:
        raise ValidationError("the PEM text holds no private key")
    try:
        key = serialization.load_pem_private_key(match.group(0), password.encode() or None)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            "the private key cannot be read (a wrong or missing password, or damaged PEM)"
        ) from exc
    certs: list[x509.Certificate] = []
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ValidationError(f"a certificate of the PEM text cannot be read: {exc}") from exc
    return ImportedKey(key, _order(key, certs))


def load_pkcs12(data: bytes, password: str = "") -> ImportedKey:
    """The key and certificates of a PKCS#12 file."""
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() or None)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            "the PKCS#12 data cannot be read (a wrong password, or not PKCS#12)"
        ) from exc
    if key is None:
        raise ValidationError("the PKCS#12 data holds no private key")
    certs = ([cert] if cert is not None else []) + list(extra)
    return ImportedKey(key, _order(key, certs))
