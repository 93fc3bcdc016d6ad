"""Outgoing mail: templates per project, the outbox table, and its delivery.

* :mod:`agent.mail.render` — Jinja2 templates (project override, agent override, default);
* :mod:`agent.mail.outbox` — :func:`~agent.mail.outbox.queue_mail` in the caller's
  transaction, with its ``mail.queued`` event;
* :mod:`agent.mail.transport` — a folder of ``.eml`` files (default) or SMTP
  (STARTTLS and login configurable);
* :mod:`agent.mail.delivery` — :class:`~agent.mail.delivery.Mailer` claims due
  messages, sends them and retries with backoff; ``mail.sent`` / ``mail.failed`` events.
"""

from agent.mail.delivery import DeliveryReport, Mailer, retry_delay
from agent.mail.outbox import list_outbox, queue_mail, to_email
from agent.mail.render import MailTemplateError, MailTemplates, RenderedMail
from agent.mail.transport import (
    FileTransport,
    MailDeliveryError,
    MailTransport,
    SmtpTransport,
    transport_for,
)

__all__ = [
    "DeliveryReport",
    "FileTransport",
    "MailDeliveryError",
    "MailTemplateError",
    "MailTemplates",
    "MailTransport",
    "Mailer",
    "RenderedMail",
    "SmtpTransport",
    "list_outbox",
    "queue_mail",
    "retry_delay",
    "to_email",
    "transport_for",
]
