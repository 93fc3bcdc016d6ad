"""Authenticode with an RFC 3161 timestamp: ``agent.provenance.signers.authenticode`` with a
project's ``timestamp_url``, against a real time-stamping authority — OpenSSL's own
(``openssl ts -reply``) behind a small HTTP front, with its own self-signed TSA certificate
— and verified by ``osslsigncode verify`` against that TSA's certificate."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.provenance import certs, signers
from tests.support.pe import tiny_exe

pytestmark = pytest.mark.skipif(
    shutil.which("osslsigncode") is None or shutil.which("openssl") is None,
    reason="needs Debian's osslsigncode and openssl",
)

TS_CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {serial}
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class Tsa:
    """A time-stamping authority on a free loopback port: each POSTed request
    (``application/timestamp-query``) is answered by ``openssl ts -reply``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.folder = folder
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")])
        start = datetime.now(UTC) - timedelta(minutes=5)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=2))
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .sign(key, hashes.SHA256())
        )
        self.cert = folder / "tsa.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key = folder / "tsa.key"
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.config = folder / "ts.cnf"
        self.config.write_text(TS_CONFIG.format(serial=folder / "serial"))
        (folder / "serial").write_text("01\n")
        self.requests = 0
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers["Content-Length"]))
                reply = tsa.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, query: bytes) -> bytes:
        self.requests += 1
        request = self.folder / f"q{self.requests}.tsq"
        request.write_bytes(query)
        answer = self.folder / f"r{self.requests}.tsr"
        subprocess.run(
            ["openssl", "ts", "-reply", "-config", str(self.config), "-queryfile", str(request),
             "-signer", str(self.cert), "-inkey", str(self.key), "-out", str(answer)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return answer.read_bytes()


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[Tsa]:
    authority = Tsa(tmp_path / "tsa")
    yield authority
    authority.server.shutdown()
    authority.server.server_close()


def test_a_signature_gets_the_timestamp_of_the_projects_server(tmp_path: Path, tsa: Tsa) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = certs.self_signed_certificate(key, "CN=Acme Code Signing", days=5)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    source = tmp_path / "acme.exe"
    source.write_bytes(tiny_exe())
    stamped, plain = tmp_path / "stamped.exe", tmp_path / "plain.exe"
    tool = "osslsigncode"
    signers.authenticode(source, stamped, tool=tool, key=key, certificate_pem=pem,
                         workdir=tmp_path, timestamp_url=tsa.url)  # fmt: skip
    signers.authenticode(source, plain, tool=tool, key=key, certificate_pem=pem, workdir=tmp_path)
    assert tsa.requests == 1  # the timestamp asked once, for the stamped one only

    ca = tmp_path / "ca.pem"
    ca.write_text(pem)

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["osslsigncode", "verify", "-CAfile", str(ca), "-TSA-CAfile", str(tsa.cert),
             "-in", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip

    stamped_out = verify(stamped)
    assert stamped_out.returncode == 0, stamped_out.stdout + stamped_out.stderr
    assert "Timestamp Server Signature verification: ok" in stamped_out.stdout
    assert "CN=Test TSA" in stamped_out.stdout
    plain_out = verify(plain)
    assert plain_out.returncode == 0, plain_out.stdout + plain_out.stderr
    assert "Timestamp Server Signature" not in plain_out.stdout
    # the agent's own verification (the signer's chain only) accepts the stamped file too
    signers.authenticode_verify(stamped, tool=tool, certificate_pem=pem, workdir=tmp_path)


def test_a_dll_is_signed_and_verifies_like_a_program(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = certs.self_signed_certificate(key, "CN=Acme Code Signing", days=5)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    source, signed = tmp_path / "acme.dll", tmp_path / "signed.dll"
    source.write_bytes(tiny_exe(dll=True))
    signers.authenticode(source, signed, tool="osslsigncode", key=key, certificate_pem=pem,
                         workdir=tmp_path)  # fmt: skip
    out = signers.authenticode_verify(signed, tool="osslsigncode", certificate_pem=pem,
                                      workdir=tmp_path)  # fmt: skip
    assert "Signature verification: ok" in out
    tampered = bytearray(signed.read_bytes())
    tampered[0x200] ^= 1  # a byte of the code
    signed.write_bytes(bytes(tampered))
    with pytest.raises(signers.SigningFailed):
        signers.authenticode_verify(signed, tool="osslsigncode", certificate_pem=pem,
                                    workdir=tmp_path)  # fmt: skip


WXS = """<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Acme" Language="1033" Version="1.0.0" Manufacturer="Apache Acme"
           UpgradeCode="3f1c2b1e-6f0a-4c57-9a43-2c6f0a7d1e01">
    <Package InstallerVersion="200" Compressed="yes" Comments="a test installer"/>
    <Media Id="1" Cabinet="acme.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="Acme">
          <Component Id="Readme" Guid="3f1c2b1e-6f0a-4c57-9a43-2c6f0a7d1e02">
            <File Id="ReadmeFile" Source="README.txt"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Readme"/></Feature>
  </Product>
</Wix>
"""


def test_an_msi_installer_is_signed_and_verifies(tmp_path: Path, tsa: Tsa) -> None:
    """A real Windows Installer package, built by Debian's wixl (./dev test installs it),
    signed with a timestamp."""
    (tmp_path / "README.txt").write_text("Apache Acme\n")
    (tmp_path / "acme.wxs").write_text(WXS)
    source, signed = tmp_path / "acme.msi", tmp_path / "signed.msi"
    subprocess.run(["wixl", "-o", str(source), str(tmp_path / "acme.wxs")], cwd=tmp_path,
                   check=True, capture_output=True)  # fmt: skip
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = certs.self_signed_certificate(key, "CN=Acme Code Signing", days=5)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    signers.authenticode(source, signed, tool="osslsigncode", key=key, certificate_pem=pem,
                         workdir=tmp_path, timestamp_url=tsa.url)  # fmt: skip
    out = signers.authenticode_verify(signed, tool="osslsigncode", certificate_pem=pem,
                                      workdir=tmp_path)  # fmt: skip
    assert "Signature verification: ok" in out and tsa.requests == 1
