"""``atr-agent keys automation …`` as the operator runs it: a CSR answered by a local CA, a
PKCS#12 import with a password file, rotation, revocation, the published file, expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.provenance import certs
from shared.provenance import parse_published_keys
from tests.support.agent import run_cli

pytestmark = pytest.mark.integration


def _ca_sign(csr_pem: str, tmp_path: Path) -> Path:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local Test CA")])
    now = datetime.now(UTC)
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    leaf = (
        x509.CertificateBuilder().subject_name(csr.subject).issuer_name(name)
        .public_key(csr.public_key()).serial_number(2)
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=20))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    out = tmp_path / "issued.pem"
    out.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca)))
    return out


def test_the_operator_manages_the_agents_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "agent.toml").write_text('operator_emails = ["ops@example.org"]\n')

    def cli(*args: str) -> str:
        return run_cli(data, "keys", "automation", *args).stdout

    out = cli("generate", "--use", "attestation")
    assert "attestation key" in out and "(ed25519, active)" in out
    csr_file = tmp_path / "req.csr"
    cli("generate", "--use", "codesign", "--subject", "CN=Apache Acme,O=ASF",
        "--csr-out", str(csr_file))  # fmt: skip
    keys = json.loads(cli("list", "--json"))
    pending = next(k for k in keys if k["state"] == "pending")
    assert cli("csr", pending["fingerprint"][:12]) == csr_file.read_text()
    out = cli(
        "certificate", pending["fingerprint"][:12], str(_ca_sign(csr_file.read_text(), tmp_path))
    )
    assert "(rsa-3072, active)" in out and "issuer CN=Local Test CA" in out

    # a PKCS#12 made elsewhere, its password in a file (never an argument)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certs.self_signed_certificate(key, "CN=Imported", days=5)
    p12 = tmp_path / "id.p12"
    protection = serialization.BestAvailableEncryption(b"pw-file-secret")
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"id", key, cert, None, protection))
    password = tmp_path / "password"
    password.write_text("pw-file-secret\n")
    out = cli("import", str(p12), "--pkcs12", "--use", "codesign", "--password-file", str(password))
    assert "codesign key" in out and "(ecdsa-p256, active)" in out

    # the import retired the CA's key (one active key per use); the imported one expires in
    # 5 days: its alarm (threshold 7) is raised once, not again
    out = cli("check-expiry")
    assert out.count("mailed ops@example.org") == 1 and "(threshold 7)" in out, out
    assert cli("check-expiry").strip() == "no alarm due"

    attestation = next(k for k in json.loads(cli("list", "--json")) if k["use"] == "attestation")
    cli("rotate", attestation["fingerprint"])
    cli("revoke", attestation["fingerprint"], "--reason", "rotated and destroyed")
    published = parse_published_keys(cli("publish"))
    states = {k.fingerprint: k.state for k in published}
    assert states[attestation["fingerprint"]] == "revoked"
    assert sorted(states.values()).count("active") == 2  # the new attestation key, the p12
    proc = run_cli(data, "keys", "automation", "revoke", "zz", "--reason", "x", check=False)
    assert proc.returncode == 2 and "not an automation key fingerprint" in proc.stderr
    assert "PRIVATE" not in cli("list", "--json") + cli("publish")
