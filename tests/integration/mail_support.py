"""A real SMTP server for tests (aiosmtpd), with STARTTLS and AUTH, recording what arrives.

    with SmtpServer(tmp_path, user="atr", password="s3cret") as smtp:
        agent_factory(config=smtp.agent_config())
        msg = smtp.wait_for(lambda m: m.subject.startswith("[VOTE]"))

The server's certificate is self-signed, made by the test with ``cryptography``
for 127.0.0.1 and localhost; the agent trusts it through ``smtp_ca_file``.
``refuse`` makes the server answer DATA with an error code (451: try again later;
550: refused for good) for the next messages.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.agent import free_port


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ATR test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refusals:
                return self.refusals.pop(0)
            login = session.auth_data.login.decode() if session.auth_data else None
            self.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=bytes(envelope.original_content or envelope.content),
                    tls=session.ssl is not None,
                    login=login,
                )
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on a free loopback port (see the module docstring)."""

    def __init__(
        self,
        folder: Path,
        *,
        user: str | None = "atr-agent",
        password: str = "correct horse battery",
        starttls: bool = True,
    ) -> None:
        self.folder = folder
        self.user = user
        self.password = password
        self.starttls = starttls
        self.port = free_port()
        self.handler = _Handler()
        self.failed_logins: list[str] = []
        self.cert_path, self.key_path = make_certificate(folder)
        self.controller: Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        ):
            return AuthResult(success=True, auth_data=auth_data)
        self.failed_logins.append(
            auth_data.login.decode() if isinstance(auth_data, LoginPassword) else mechanism
        )
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {}
        if self.starttls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_path, self.key_path)
            kwargs.update(tls_context=context, require_starttls=True)
        if self.user is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self.starttls,
            )
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **kwargs
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the agent needs and what arrived ------------------------------------------------

    def agent_config(self, **extra: Any) -> dict[str, Any]:
        """The agent.toml keys that send mail here."""
        config: dict[str, Any] = {
            "outbox": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_starttls": self.starttls,
            "smtp_ca_file": str(self.cert_path),
            "smtp_timeout_seconds": 10,
            "scheduler_interval_seconds": 0.5,
            "mail_retry_seconds": 1,
            "mail_from": "ATR <atr-agent@example.org>",
        }
        if self.user is not None:
            config.update(smtp_user=self.user, smtp_password=self.password)
        config.update(extra)
        return config

    def refuse(self, *codes: str) -> None:
        """Answer the next ``len(codes)`` messages' DATA with these replies."""
        with self.handler.lock:
            self.handler.refusals.extend(codes)

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def wait_for(
        self, match: Callable[[Received], bool], *, timeout: float = 60, what: str = "a message"
    ) -> Received:
        """The first received message ``match`` accepts; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.received:
                if match(msg):
                    return msg
            time.sleep(0.1)
        subjects = [m.subject for m in self.received]
        raise AssertionError(f"{what} did not arrive in {timeout}s; got {subjects}")
