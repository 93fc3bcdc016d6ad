"""Where mail goes: a folder of ``.eml`` files (the embedded default) or an SMTP server.

* :class:`FileTransport` writes each message to ``DATA_DIR/outbox/<id>.eml``
  (atomically, readable by anyone: it is what would have been sent).
* :class:`SmtpTransport` sends through ``smtp_host:smtp_port`` with ``smtplib``,
  optionally upgrading with STARTTLS (certificates verified against the system's
  CAs or ``smtp_ca_file``) and logging in with ``smtp_user``/``smtp_password``.
  A password is never sent over an unencrypted connection to another host.

A failure raises :class:`MailDeliveryError`; ``permanent`` says whether trying
again can help (an SMTP 5xx answer) or not.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from agent.config import Settings
from shared.atomicfile import PUBLIC_FILE, write_atomic
from shared.errors import AtrError

__all__ = ["FileTransport", "MailDeliveryError", "MailTransport", "SmtpTransport", "transport_for"]

OUTBOX_DIR_NAME = "outbox"


class MailDeliveryError(AtrError):
    """A message could not be delivered."""

    def __init__(self, message: str, *, permanent: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.permanent = permanent


class MailTransport(Protocol):
    """Delivers one message; returns where it went (for the ``mail.sent`` event)."""

    name: str

    def send(
        self, msg: EmailMessage, *, sender: str, recipients: list[str], mail_id: int
    ) -> str: ...


class FileTransport:
    """Writes messages to a folder, one ``<id>.eml`` each (see the module docstring)."""

    name = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, msg: EmailMessage, *, sender: str, recipients: list[str], mail_id: int) -> str:
        target = self.folder / f"{mail_id}.eml"
        try:
            write_atomic(target, msg.as_bytes(), mode=PUBLIC_FILE, make_dirs=True)
        except OSError as exc:
            raise MailDeliveryError(
                f"cannot write the outbox file in {self.folder}: {exc.strerror or exc}"
            ) from exc
        return str(target)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpTransport:
    """Sends through an SMTP server (see the module docstring)."""

    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        starttls: bool = False,
        user: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        timeout: float = 30,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self.user = user
        self.password = password
        self.ca_file = ca_file
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        """The transport the settings describe."""
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout_seconds,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _tls_context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise MailDeliveryError(
                f"cannot load the CA certificates {self.ca_file}: {exc}",
                hint="fix smtp_ca_file",
            ) from exc

    def _session(self, smtp: smtplib.SMTP) -> None:
        smtp.ehlo()
        if self.starttls:
            if not smtp.has_extn("starttls"):
                raise MailDeliveryError(
                    f"the SMTP server {self.where} does not offer STARTTLS",
                    hint="set smtp_starttls = false only if the connection is otherwise safe",
                )
            smtp.starttls(context=self._tls_context())
            smtp.ehlo()
        if self.user:
            if not self.starttls and not _is_loopback(self.host):
                raise MailDeliveryError(
                    f"refusing to send the SMTP password to {self.where} without TLS",
                    permanent=True,
                    hint="set smtp_starttls = true",
                )
            smtp.login(self.user, self.password or "")

    def send(self, msg: EmailMessage, *, sender: str, recipients: list[str], mail_id: int) -> str:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                self._session(smtp)
                refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailDeliveryError(
                f"the SMTP server {self.where} refused the login of {self.user!r}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                hint="check smtp_user and smtp_password",
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailDeliveryError(
                f"the SMTP server {self.where} refused every recipient: "
                + "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in exc.recipients.items()),
                permanent=all(c >= 500 for c in codes),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailDeliveryError(
                f"the SMTP server {self.where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=exc.smtp_code >= 500,
            ) from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise MailDeliveryError(
                f"cannot send through the SMTP server {self.where}: {exc}",
                hint="check smtp_host, smtp_port and that the server is up",
            ) from exc
        if refused:
            raise MailDeliveryError(
                f"the SMTP server {self.where} refused some recipients: "
                + "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in refused.items()),
                permanent=True,
            )
        return f"smtp://{self.where}"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def transport_for(settings: Settings) -> MailTransport:
    """The transport the settings choose (``outbox = "file"`` or ``"smtp"``)."""
    if settings.outbox == "smtp":
        return SmtpTransport.from_settings(settings)
    return FileTransport(settings.data_dir / OUTBOX_DIR_NAME)
