"""Delivering the outbox: claim a due message, send it, record the outcome as an event.

A message is *due* when it is ``queued`` and its ``next_attempt_at`` has come.
:func:`deliver_due` claims each due message with a conditional UPDATE (it counts
the attempt and pushes ``next_attempt_at`` a lease ahead), so several agents on
one PostgreSQL database never send the same attempt twice, and a message whose
agent died mid-send is tried again once the lease has passed. Then, with no
transaction open, the transport sends it, and a second transaction records:

* success: ``sent`` and a ``mail.sent`` event;
* failure: a ``mail.failed`` event; the message is tried again after a delay
  that doubles with each attempt (``mail_retry_seconds``, 2x, 4x, ...) until
  ``mail_max_attempts`` attempts were made or the server refused it for good,
  and is then ``failed`` (``final: true`` in the event).

Delivery is at least once: a crash between the server's "250 OK" and the
second transaction sends the message again when the lease passes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from agent.db import models
from agent.engine.events import append_event
from agent.mail.outbox import envelope_sender, to_email
from agent.mail.transport import MailDeliveryError, MailTransport
from shared.protocol import EventKind

__all__ = ["DeliveryReport", "Mailer", "retry_delay"]

log = logging.getLogger(__name__)

ACTOR = "atr-agent"
MAX_RETRY_SECONDS = 6 * 3600.0
BATCH = 50


def retry_delay(attempts: int, base_seconds: float) -> timedelta:
    """The wait after ``attempts`` failed attempts: base, 2x base, 4x base, ... (at most 6 h)."""
    return timedelta(seconds=min(base_seconds * 2 ** max(0, attempts - 1), MAX_RETRY_SECONDS))


@dataclass
class DeliveryReport:
    """What one :meth:`Mailer.deliver_due` pass did."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


@dataclass
class Mailer:
    """Delivers the outbox with one transport (see the module docstring).

    ``transaction`` opens a write transaction (commit on success); ``read`` a read session.
    """

    transaction: Callable[[], AbstractContextManager[Session]]
    transport: MailTransport
    max_attempts: int = 8
    retry_seconds: float = 60.0
    lease_seconds: float = 300.0
    read: Callable[[], AbstractContextManager[Session]] | None = None
    """A read-only session for finding due messages (default: ``transaction``)."""

    def due_ids(self, now: datetime) -> list[int]:
        """Ids of the messages due at ``now``, oldest first."""
        with (self.read or self.transaction)() as session:
            return list(
                session.scalars(
                    select(models.OutboxMessage.id)
                    .where(
                        models.OutboxMessage.state == "queued",
                        models.OutboxMessage.next_attempt_at <= now,
                    )
                    .order_by(models.OutboxMessage.id)
                    .limit(BATCH)
                )
            )

    def _claim(self, mail_id: int, now: datetime) -> models.OutboxMessage | None:
        with self.transaction() as session:
            row = session.get(models.OutboxMessage, mail_id)
            if row is None or row.state != "queued" or row.next_attempt_at > now:
                return None
            done = session.execute(
                update(models.OutboxMessage)
                .where(
                    models.OutboxMessage.id == mail_id,
                    models.OutboxMessage.state == "queued",
                    models.OutboxMessage.attempts == row.attempts,
                )
                .values(
                    attempts=row.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=self.lease_seconds),
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 0) != 1:
                return None
            session.refresh(row)
            session.expunge(row)
            return row

    def deliver_due(self, now: datetime | None = None) -> DeliveryReport:
        """Send every message due at ``now`` (default: the current time)."""
        report = DeliveryReport()
        moment = now or datetime.now(UTC)
        for mail_id in self.due_ids(moment):
            self.deliver_one(mail_id, moment, report)
        return report

    def deliver_one(self, mail_id: int, now: datetime, report: DeliveryReport) -> None:
        """Claim and send one message, recording the outcome in ``report``."""
        row = self._claim(mail_id, now)
        if row is None:
            return  # sent meanwhile, or claimed by another agent
        try:
            where = self.transport.send(
                to_email(row),
                sender=envelope_sender(row),
                recipients=list(row.recipients),
                mail_id=row.id,
            )
        except MailDeliveryError as exc:
            self._failed(row, exc, report, now)
        else:
            self._sent(row, where, report, now)

    def _sent(
        self, row: models.OutboxMessage, where: str, report: DeliveryReport, now: datetime
    ) -> None:
        with self.transaction() as session:
            session.execute(
                update(models.OutboxMessage)
                .where(models.OutboxMessage.id == row.id)
                .values(state="sent", sent_at=now, last_error=None)
            )
            append_event(
                session,
                EventKind.MAIL_SENT,
                actor=ACTOR,
                project=row.project,
                version=row.version,
                data={
                    "mail_id": row.id,
                    "kind": row.kind,
                    "message_id": row.message_id,
                    "to": list(row.recipients),
                    "subject": row.subject,
                    "transport": self.transport.name,
                    "where": where,
                    "attempt": row.attempts,
                    "seconds_queued": round(max(0.0, (now - row.created_at).total_seconds()), 3),
                },
            )
        report.sent.append(row.id)

    def _failed(
        self,
        row: models.OutboxMessage,
        error: MailDeliveryError,
        report: DeliveryReport,
        now: datetime,
    ) -> None:
        final = error.permanent or row.attempts >= self.max_attempts
        retry_at = None if final else now + retry_delay(row.attempts, self.retry_seconds)
        log.warning("mail %s attempt %d failed: %s", row.id, row.attempts, error.message)
        with self.transaction() as session:
            values: dict[str, object] = {"last_error": error.message}
            if final:
                values["state"] = "failed"
            else:
                values["next_attempt_at"] = retry_at
            session.execute(
                update(models.OutboxMessage).where(models.OutboxMessage.id == row.id).values(values)
            )
            append_event(
                session,
                EventKind.MAIL_FAILED,
                actor=ACTOR,
                project=row.project,
                version=row.version,
                data={
                    "mail_id": row.id,
                    "kind": row.kind,
                    "subject": row.subject,
                    "attempt": row.attempts,
                    "max_attempts": self.max_attempts,
                    "error": error.message,
                    "final": final,
                    "retry_at": retry_at.isoformat() if retry_at else None,
                },
            )
        (report.failed if final else report.retrying).append(row.id)
