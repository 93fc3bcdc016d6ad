"""agent.provenance.keys and .alarms on a real SQLite database and vault: generate, import (PEM,
PKCS#12), CSR → a local CA's certificate, rotate, revoke, the published file, expiry alarms."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agent.config import Settings
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.provenance import alarms, certs
from agent.provenance import keys as automation
from agent.store import Conflict, Forbidden, Principal
from agent.vault import Vault
from shared.errors import ValidationError
from shared.protocol import Role
from shared.protocol.provenance import (
    CertificateInstall,
    KeyGenerate,
    KeyImport,
    KeyRevoke,
    KeyRotate,
)
from shared.provenance import parse_published_keys, sign_statement, statement, subject
from shared.provenance.dsse import verify_envelope

OPERATOR = Principal.operator()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("ATR_VAULT_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return Settings(data_dir=tmp_path, operator_emails=["root@example.org"])


@pytest.fixture
def factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{settings.data_dir / 'agent.db'}")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def test_generate_encrypts_the_private_key_with_the_vault(factory, settings) -> None:
    with transaction(factory) as session:
        key = automation.generate(session, settings, OPERATOR, KeyGenerate(use="attestation"))
        row = session.scalars(select(models.AutomationKey)).one()
    assert key.state == "active" and key.algorithm == "ed25519" and key.expires_in_days == 729
    assert "PRIVATE" not in row.private_ciphertext and row.private_ciphertext.startswith("v1.")
    vault = Vault.open(data_dir=settings.data_dir)
    der = vault.decrypt(row.private_ciphertext, name=f"automation-key:{key.fingerprint}")
    private = serialization.load_der_private_key(der, None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert "PRIVATE" not in key.model_dump_json()
    # the ciphertext is bound to its key: under another fingerprint it does not decrypt
    with pytest.raises(Exception, match="does not decrypt"):
        vault.decrypt(row.private_ciphertext, name="automation-key:" + "0" * 64)


def test_only_admins_manage_keys(factory, settings) -> None:
    pmc = Principal(name="alice", user_id=1, is_admin=False, token_role=Role.PMC,
                    memberships={"acme": Role.PMC})  # fmt: skip
    with transaction(factory) as session, pytest.raises(Forbidden, match="'admin' role"):
        automation.generate(session, settings, pmc, KeyGenerate(use="attestation"))


def test_attestation_keys_are_ed25519_or_p256(factory, settings) -> None:
    with transaction(factory) as session:
        with pytest.raises(ValidationError, match="Ed25519 or ECDSA P-256"):
            automation.generate(
                session, settings, OPERATOR, KeyGenerate(use="attestation", algorithm="rsa-3072")
            )
        key = automation.generate(
            session, settings, OPERATOR, KeyGenerate(use="attestation", algorithm="ecdsa-p256")
        )
    assert key.algorithm == "ecdsa-p256"


def _local_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


def _issue(ca_key, ca_cert, csr_pem: str, days: int) -> x509.Certificate:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CODE_SIGNING in eku
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject).issuer_name(ca_cert.subject).public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip


def test_a_csr_for_a_real_ca_then_its_certificate(factory, settings) -> None:
    ca_key, ca_cert = _local_ca()
    with transaction(factory) as session:
        pending = automation.generate(
            session, settings, OPERATOR,
            KeyGenerate(use="codesign", certificate="csr", subject="CN=Apache Acme,O=ASF,C=US"),
        )  # fmt: skip
        assert pending.state == "pending" and pending.certificate_pem is None
        with pytest.raises(Conflict, match="no active codesign key"):
            automation.signing_key(session, settings, "codesign")
        csr = automation.csr_pem(session, OPERATOR, pending.fingerprint)
        # a certificate for another key is refused
        other = automation.generate(
            session, settings, OPERATOR, KeyGenerate(use="codesign", certificate="csr", subject="x")
        )
        wrong = _issue(ca_key, ca_cert, automation.csr_pem(session, OPERATOR, other.fingerprint), 9)
        with pytest.raises(ValidationError, match="not for the key"):
            automation.install_certificate(
                session, OPERATOR, pending.fingerprint,
                CertificateInstall(certificate_pem=wrong.public_bytes(serialization.Encoding.PEM).decode()),
            )  # fmt: skip
        issued = _issue(ca_key, ca_cert, csr, 9)
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (issued, ca_cert))
        active = automation.install_certificate(
            session,
            OPERATOR,
            pending.fingerprint[:16],
            CertificateInstall(certificate_pem=chain.decode()),
        )
        signing = automation.signing_key(session, settings, "codesign")
    assert active.state == "active" and active.issuer == "CN=Test CA"
    assert active.subject == "CN=Apache Acme,O=ASF,C=US" and not active.self_signed
    assert active.expires_in_days in (8, 9)
    assert signing.fingerprint == pending.fingerprint and "Test CA" not in (active.subject or "")
    assert signing.certificate_pem is not None and signing.certificate_pem.count("BEGIN CERT") == 2


def _pem_key_and_cert() -> tuple[str, str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certs.self_signed_certificate(key, "CN=Imported", days=30)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    ).decode()  # fmt: skip
    p12 = pkcs12.serialize_key_and_certificates(
        b"x", key, cert, None, serialization.BestAvailableEncryption(b"s3cret")
    )
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode(), p12


def test_import_pem_and_pkcs12(factory, settings) -> None:
    pem, cert_pem, p12 = _pem_key_and_cert()
    with transaction(factory) as session:
        with pytest.raises(ValidationError, match="wrong or missing password"):
            bad = KeyImport(use="codesign", pem=pem + cert_pem, password="no")
            automation.import_key(session, settings, OPERATOR, bad)
        with pytest.raises(ValidationError, match="with its certificate"):
            bare = KeyImport(use="codesign", pem=pem, password="s3cret")
            automation.import_key(session, settings, OPERATOR, bare)
        key = automation.import_key(
            session, settings, OPERATOR,
            KeyImport(use="codesign", pem=pem + cert_pem, password="s3cret"),
        )  # fmt: skip
        assert key.state == "active" and key.subject == "CN=Imported"
        with pytest.raises(Conflict, match="already known"):
            automation.import_key(
                session, settings, OPERATOR,
                KeyImport(use="codesign", pkcs12_base64=base64.b64encode(p12).decode(),
                          password="s3cret"),
            )  # fmt: skip
    _pem2, _cert2, p12b = _pem_key_and_cert()
    with transaction(factory) as session:
        second = automation.import_key(
            session, settings, OPERATOR,
            KeyImport(use="codesign", pkcs12_base64=base64.b64encode(p12b).decode(),
                      password="s3cret", activate=False),
        )  # fmt: skip
    assert second.state == "retired"


def test_rotation_keeps_the_old_key_for_verification_and_revocation_marks_it(
    factory, settings
) -> None:
    with transaction(factory) as session:
        first = automation.generate(session, settings, OPERATOR, KeyGenerate(use="attestation"))
        old = automation.signing_key(session, settings, "attestation")
        envelope = sign_statement(
            statement("vote", [subject("a.tar.gz", sha256="1" * 64, sha512="2" * 128)], {}),
            old.private_key,
        )
        second = automation.rotate(session, settings, OPERATOR, first.fingerprint, KeyRotate())
        assert automation.signing_key(session, settings, "attestation").fingerprint == (
            second.fingerprint
        )
        with pytest.raises(Conflict, match="only the active key is rotated"):
            automation.rotate(session, settings, OPERATOR, first.fingerprint, KeyRotate())
        text = automation.published_key_file(session, settings)
    published = {k.fingerprint: k for k in parse_published_keys(text)}
    assert published[first.fingerprint].state == "retired"
    assert published[first.fingerprint].retired_at is not None
    assert published[second.fingerprint].state == "active"
    verified = verify_envelope(envelope, list(published.values()))
    assert verified.key.fingerprint == first.fingerprint and not verified.key.revoked

    with transaction(factory) as session:
        with pytest.raises(ValidationError, match="needs a reason"):
            automation.revoke(session, OPERATOR, first.fingerprint, KeyRevoke(reason=" "))
        revoked = automation.revoke(
            session, OPERATOR, first.fingerprint, KeyRevoke(reason="key file leaked")
        )
        text = automation.published_key_file(session, settings)
        events = [e.kind for e in session.scalars(select(models.Event))]
    assert revoked.state == "revoked" and revoked.revocation_reason == "key file leaked"
    key = verify_envelope(envelope, parse_published_keys(text)).key
    assert key.revoked and "REVOKED" in key.standing() and "key file leaked" in key.standing()
    assert events.count("automation_key.added") == 2
    assert "automation_key.rotated" in events and "automation_key.revoked" in events


def test_the_first_attestation_key_is_made_when_needed(factory, settings) -> None:
    with transaction(factory) as session:
        key = automation.signing_key(session, settings, "attestation")
        again = automation.signing_key(session, settings, "attestation")
    assert key.fingerprint == again.fingerprint and key.algorithm == "ed25519"


def test_an_edited_published_file_is_refused(factory, settings) -> None:
    with transaction(factory) as session:
        automation.generate(session, settings, OPERATOR, KeyGenerate(use="attestation"))
        automation.generate(session, settings, OPERATOR, KeyGenerate(use="attestation"))
        text = automation.published_key_file(session, settings)
    blocks = text.split("# atr-key:")
    swapped = (
        blocks[0] + "# atr-key:" + blocks[1].split("\n", 1)[0] + "\n" + blocks[2].split("\n", 1)[1]
    )
    with pytest.raises(ValidationError, match="the file was changed"):
        parse_published_keys(swapped)


def test_expiry_alarms_once_per_threshold(factory, settings) -> None:
    with transaction(factory) as session:
        key = automation.generate(
            session, settings, OPERATOR, KeyGenerate(use="attestation", days=40)
        )
    start = datetime.now(UTC)
    seen: list[tuple[int, int]] = []
    for days_later in (0, 5, 11, 12, 26, 27, 33, 39, 41, 42):
        with transaction(factory) as session:
            for alarm in alarms.check_expiry(session, settings, start + timedelta(days=days_later)):
                seen.append((days_later, alarm.threshold))
                assert alarm.fingerprint == key.fingerprint
                assert alarm.mailed_to == ("root@example.org",)
    assert seen == [(11, 30), (26, 14), (33, 7), (39, 1), (41, 0)]
    with factory() as session:
        mails = list(session.scalars(select(models.OutboxMessage)))
        events = list(
            session.scalars(
                select(models.Event).where(models.Event.kind == "automation_key.expiring")
            )
        )
    assert len(mails) == 5 and len(events) == 5
    assert "expires in 28 days" in mails[0].subject and "EXPIRED" in mails[-1].subject
    assert "atr-agent keys automation rotate" in mails[0].body
    assert events[-1].data["expired"] is True
    with transaction(factory) as session:  # an expired key signs nothing (the real clock)
        row = session.scalars(select(models.AutomationKey)).one()
        row.not_after = datetime.now(UTC) - timedelta(seconds=1)
        session.flush()
        with pytest.raises(Conflict, match="expired on"):
            automation.signing_key(session, settings, "attestation")


def test_fingerprints_are_hex(factory, settings) -> None:
    with transaction(factory) as session:
        for bad in ("%", "abc", "zz" * 8, "a%b%c%d%e%"):
            with pytest.raises(ValidationError, match="not an automation key fingerprint"):
                automation.revoke(session, OPERATOR, bad, KeyRevoke(reason="x"))


def test_alarm_thresholds_follow_the_window() -> None:
    assert alarms.thresholds(30) == [30, 14, 7, 1, 0]
    assert alarms.thresholds(10) == [10, 7, 1, 0]
    assert alarms.thresholds(1) == [1, 0]
