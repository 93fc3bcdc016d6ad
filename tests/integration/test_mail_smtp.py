"""Outbox delivery through a real SMTP server (aiosmtpd) with STARTTLS and AUTH.

The agent's own delivery code (agent.mail) runs against a real, migrated SQLite
database; what the server received is asserted on, and so are the events.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.mail import Mailer, SmtpTransport, queue_mail, retry_delay
from tests.integration.mail_support import SmtpServer
from tests.support.agent import free_port

pytestmark = pytest.mark.integration

SENDER = "ATR <atr-agent@example.org>"


@pytest.fixture
def db(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    migrate(engine)
    factory = make_session_factory(engine)
    try:
        yield factory
    finally:
        engine.dispose()


@pytest.fixture
def smtp(tmp_path: Path):
    with SmtpServer(tmp_path) as server:
        yield server


def mailer(factory, transport, **kwargs) -> Mailer:
    return Mailer(transaction=lambda: transaction(factory), transport=transport, **kwargs)


def tls_transport(server: SmtpServer, **changes) -> SmtpTransport:
    options = {
        "host": "127.0.0.1",
        "port": server.port,
        "starttls": True,
        "user": server.user,
        "password": server.password,
        "ca_file": server.cert_path,
        "timeout": 10,
    }
    options.update(changes)
    return SmtpTransport(**options)


def queue(factory, n: int = 1, *, subject: str = "[VOTE] Release Acme Library 1.0.0") -> list[int]:
    ids = []
    with transaction(factory) as session:
        for i in range(n):
            row = queue_mail(
                session,
                kind="vote",
                sender=SENDER,
                recipients=["dev@acme-lib.apache.org"],
                subject=subject if n == 1 else f"{subject} #{i}",
                body="Hello,\n\nplease vote: caf\u00e9 \u2713\n\n-- \nATR\n",
                actor="bob",
                project="acme-lib",
                version="1.0.0",
                in_reply_to="<thread@example.org>",
            )
            ids.append(row.id)
    return ids


def events(factory, kind: str) -> list[dict]:
    with factory() as session:
        rows = session.scalars(select(models.Event).where(models.Event.kind == kind))
        return [r.data for r in rows]


def outbox_row(factory, mail_id: int) -> models.OutboxMessage:
    with factory() as session:
        row = session.get(models.OutboxMessage, mail_id)
        assert row is not None
        return row


def test_starttls_and_login_deliver_the_message(db, smtp):
    [mail_id] = queue(db)
    report = mailer(db, tls_transport(smtp)).deliver_due()
    assert report.sent == [mail_id]
    [got] = smtp.received
    assert got.tls is True
    assert got.login == "atr-agent"
    assert got.mail_from == "atr-agent@example.org"
    assert got.rcpt_tos == ["dev@acme-lib.apache.org"]
    msg = got.message
    assert msg["Subject"] == "[VOTE] Release Acme Library 1.0.0"
    assert msg["From"] == SENDER
    assert msg["In-Reply-To"] == "<thread@example.org>"
    assert msg["Message-ID"] == outbox_row(db, mail_id).message_id
    assert "please vote: caf\u00e9 \u2713" in got.body
    row = outbox_row(db, mail_id)
    assert row.state == "sent" and row.attempts == 1 and row.sent_at is not None
    [queued] = events(db, "mail.queued")
    assert queued["mail_id"] == mail_id and queued["to"] == ["dev@acme-lib.apache.org"]
    [sent] = events(db, "mail.sent")
    assert sent["transport"] == "smtp" and sent["where"] == f"smtp://127.0.0.1:{smtp.port}"
    # nothing is due any more
    assert mailer(db, tls_transport(smtp)).deliver_due().sent == []


def test_wrong_password_is_retried_with_a_clear_error(db, smtp):
    [mail_id] = queue(db)
    report = mailer(db, tls_transport(smtp, password="wrong")).deliver_due()
    assert report.retrying == [mail_id]
    assert smtp.received == [] and set(smtp.failed_logins) == {"atr-agent"}
    [failed] = events(db, "mail.failed")
    assert "refused the login of 'atr-agent'" in failed["error"]
    assert failed["final"] is False and failed["retry_at"]
    assert outbox_row(db, mail_id).state == "queued"


def test_a_temporary_refusal_is_retried_after_the_backoff(db, smtp):
    [mail_id] = queue(db)
    smtp.refuse("451 4.3.0 try again later")
    m = mailer(db, tls_transport(smtp), retry_seconds=30)
    assert m.deliver_due().retrying == [mail_id]
    row = outbox_row(db, mail_id)
    assert row.attempts == 1 and "451" in (row.last_error or "")
    # not due before the backoff has passed
    assert m.deliver_due().sent == []
    later = datetime.now(UTC) + retry_delay(1, 30) + timedelta(seconds=1)
    assert m.deliver_due(later).sent == [mail_id]
    assert len(smtp.received) == 1
    assert outbox_row(db, mail_id).attempts == 2


def test_a_permanent_refusal_fails_at_once(db, smtp):
    [mail_id] = queue(db)
    smtp.refuse("550 5.7.1 relaying denied")
    report = mailer(db, tls_transport(smtp)).deliver_due()
    assert report.failed == [mail_id]
    row = outbox_row(db, mail_id)
    assert row.state == "failed" and "550" in (row.last_error or "")
    [failed] = events(db, "mail.failed")
    assert failed["final"] is True and failed["retry_at"] is None


def test_an_untrusted_certificate_is_refused(db, smtp):
    [mail_id] = queue(db)
    report = mailer(db, tls_transport(smtp, ca_file=None)).deliver_due()
    assert report.retrying == [mail_id]
    assert smtp.received == []
    assert "CERTIFICATE_VERIFY_FAILED" in (outbox_row(db, mail_id).last_error or "")


def test_starttls_required_but_not_offered(db, tmp_path):
    (tmp_path / "plain").mkdir()
    with SmtpServer(tmp_path / "plain", user=None, starttls=False) as plain:
        [mail_id] = queue(db)
        mailer(db, tls_transport(plain, user=None)).deliver_due()
        assert plain.received == []
        assert "does not offer STARTTLS" in (outbox_row(db, mail_id).last_error or "")
        # the same server without TLS, no login: delivered
        plain_transport = SmtpTransport(host="127.0.0.1", port=plain.port, timeout=10)
        later = datetime.now(UTC) + timedelta(hours=1)
        assert mailer(db, plain_transport).deliver_due(later).sent == [mail_id]
        assert plain.received[0].tls is False


def test_unreachable_server_backs_off_then_gives_up(db):
    [mail_id] = queue(db)
    down = SmtpTransport(host="127.0.0.1", port=free_port(), timeout=5)
    m = mailer(db, down, max_attempts=3, retry_seconds=10)
    now = datetime.now(UTC)
    delays = []
    for _ in range(3):
        m.deliver_due(now)
        row = outbox_row(db, mail_id)
        if row.state == "queued":
            delays.append(round((row.next_attempt_at - now).total_seconds()))
            now = row.next_attempt_at + timedelta(seconds=1)
    assert outbox_row(db, mail_id).state == "failed"
    assert len(delays) == 2 and delays[1] >= 2 * delays[0] - 2  # doubling backoff
    finals = [e["final"] for e in events(db, "mail.failed")]
    assert finals == [False, False, True]
    assert "Connection refused" in (outbox_row(db, mail_id).last_error or "")


def test_two_deliverers_send_each_message_once(db, smtp):
    ids = queue(db, 12)
    transport = tls_transport(smtp)
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        barrier.wait()
        reports.append(mailer(db, transport).deliver_due())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sent = sorted(i for r in reports for i in r.sent)
    assert sent == ids
    subjects = sorted(m.subject for m in smtp.received)
    assert len(subjects) == 12 and len(set(subjects)) == 12
