"""The outbox: every email the agent sends is first a row of the ``outbox`` table.

:func:`queue_mail` adds a message in the caller's transaction with its
``mail.queued`` event, so a mail exists exactly when the change it reports was
committed. :mod:`agent.mail.delivery` sends queued messages later (with retries);
:func:`to_email` builds the RFC 5322 message of a row.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from agent.engine.events import append_event
from shared.errors import ValidationError
from shared.protocol import EventKind
from shared.protocol.votes import OutboxItem

__all__ = [
    "address_of",
    "domain_of",
    "list_outbox",
    "make_message_id",
    "outbox_item",
    "queue_mail",
    "to_email",
]

MAX_RECIPIENTS = 50


def address_of(value: str) -> str:
    """The bare address of ``Name <addr>`` (lower case); ValidationError if there is none."""
    _, addr = email.utils.parseaddr(value)
    if "@" not in addr or any(c.isspace() for c in addr):
        raise ValidationError(f"{value!r} is not an email address")
    return addr.lower()


def domain_of(value: str) -> str:
    """The domain of an address (``localhost`` if it has none)."""
    return address_of(value).rpartition("@")[2] or "localhost"


def make_message_id(sender: str) -> str:
    """A new globally unique Message-ID in the sender's domain, with angle brackets."""
    return email.utils.make_msgid(domain=domain_of(sender))


def queue_mail(
    session: Session,
    *,
    kind: str,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    actor: str | None,
    project: str | None = None,
    version: str | None = None,
    in_reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
    message_id: str | None = None,
) -> models.OutboxMessage:
    """Add a message to the outbox (and its ``mail.queued`` event) in ``session``."""
    if not recipients:
        raise ValidationError("a mail needs at least one recipient")
    if len(recipients) > MAX_RECIPIENTS:
        raise ValidationError(f"a mail may have at most {MAX_RECIPIENTS} recipients")
    for addr in (sender, *recipients):
        address_of(addr)
    extra: dict[str, Any] = dict(headers or {})
    if in_reply_to:
        extra["In-Reply-To"] = in_reply_to
        extra["References"] = in_reply_to
    row = models.OutboxMessage(
        kind=kind,
        project=project,
        version=version,
        message_id=message_id or make_message_id(sender),
        sender=sender,
        recipients=list(recipients),
        subject=subject,
        body=body,
        headers=extra,
        state="queued",
        attempts=0,
        next_attempt_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        EventKind.MAIL_QUEUED,
        actor=actor,
        project=project,
        version=version,
        data={
            "mail_id": row.id,
            "kind": kind,
            "message_id": row.message_id,
            "to": list(recipients),
            "subject": subject,
        },
    )
    return row


def to_email(row: models.OutboxMessage) -> EmailMessage:
    """The RFC 5322 message of an outbox row."""
    msg = EmailMessage()
    msg["From"] = row.sender
    msg["To"] = ", ".join(row.recipients)
    msg["Subject"] = row.subject
    msg["Date"] = email.utils.format_datetime(row.created_at.astimezone(UTC))
    msg["Message-ID"] = row.message_id
    for name, value in sorted((row.headers or {}).items()):
        msg[name] = str(value)
    msg["X-Mailer"] = "ATR agent"
    if row.project:
        msg["X-ATR-Release"] = f"{row.project} {row.version or ''}".strip()
    msg.set_content(row.body)
    return msg


def envelope_sender(row: models.OutboxMessage) -> str:
    """The SMTP envelope sender (``MAIL FROM``): the ``Sender`` header's address when the mail
    is from someone else on whose behalf the agent sends it (the release manager's ``[VOTE]``),
    else the From address."""
    addr = address_of(str((row.headers or {}).get("Sender") or row.sender))
    return str(Address(addr_spec=addr).addr_spec)


def outbox_item(row: models.OutboxMessage) -> OutboxItem:
    """The wire model of an outbox row."""
    return OutboxItem(
        id=row.id,
        kind=row.kind,
        project=row.project,
        version=row.version,
        message_id=row.message_id,
        sender=row.sender,
        recipients=list(row.recipients),
        subject=row.subject,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def list_outbox(
    session: Session,
    *,
    project: str | None = None,
    version: str | None = None,
    state: str | None = None,
    limit: int = 200,
) -> list[OutboxItem]:
    """Outbox messages, newest first."""
    query = select(models.OutboxMessage)
    if project is not None:
        query = query.where(models.OutboxMessage.project == project)
    if version is not None:
        query = query.where(models.OutboxMessage.version == version)
    if state is not None:
        if state not in ("queued", "sent", "failed"):
            raise ValidationError(f"{state!r} is not an outbox state (queued, sent, failed)")
        query = query.where(models.OutboxMessage.state == state)
    rows = session.scalars(query.order_by(models.OutboxMessage.id.desc()).limit(limit))
    return [outbox_item(r) for r in rows]
