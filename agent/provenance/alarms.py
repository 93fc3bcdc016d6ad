"""Expiry alarms of the agent's own keys and certificates.

A key or certificate (active or pending) whose ``not_after`` is within
``key_expiry_alarm_days`` (30 by default) raises an ``automation_key.expiring`` event — the
desktop's automation keys screen shows it — and mails the operators (``operator_emails``,
else every admin's address). It does so once per threshold: when it enters the window, at
14, 7 and 1 days left, and once expired; each threshold is remembered with the key
(``alarms``), so restarts, several agents and frequent checks send nothing twice. Installing
a new certificate starts the thresholds over.

The scheduler runs :func:`check_expiry` every ``key_expiry_check_seconds``;
``atr-agent keys automation check-expiry`` runs it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.engine.events import append_event
from agent.mail.outbox import queue_mail
from shared.protocol import EventKind

__all__ = ["Alarm", "check_expiry", "thresholds"]

LATER_THRESHOLDS = (14, 7, 1, 0)


def thresholds(window: int) -> list[int]:
    """The days-left marks at which a key is announced, largest first (0: expired)."""
    return sorted({window, *(t for t in LATER_THRESHOLDS if t < window)}, reverse=True)


@dataclass(frozen=True, slots=True)
class Alarm:
    fingerprint: str
    use: str
    threshold: int
    days_left: int
    not_after: datetime
    mailed_to: tuple[str, ...]


def _operators(session: Session, settings: Settings) -> list[str]:
    if settings.operator_emails:
        return list(settings.operator_emails)
    return sorted(
        set(session.scalars(select(models.User.email).where(models.User.is_admin.is_(True))))
    )


def _mail_text(row: models.AutomationKey, days: int, settings: Settings) -> tuple[str, str]:
    what = f"{row.use} key {row.fingerprint[:16]}…"
    if row.subject:
        what += f" ({row.subject})"
    if days < 0:
        subject = f"[ATR] the agent's {row.use} key has EXPIRED"
        state = f"expired on {row.not_after:%Y-%m-%d %H:%M} UTC"
    else:
        subject = f"[ATR] the agent's {row.use} key expires in {days} day{'s' if days != 1 else ''}"
        state = f"expires on {row.not_after:%Y-%m-%d %H:%M} UTC"
    action = (
        "Rotate it now: atr-agent keys automation rotate "
        + row.fingerprint[:16]
        + (
            " (for a code-signing certificate from a CA: --certificate csr, send the CSR to the "
            "CA, then atr-agent keys automation certificate FINGERPRINT CERT.pem)"
            if row.use == "codesign"
            else ""
        )
    )
    body = (
        f"The {what} of the ATR agent at {settings.effective_public_url} {state}.\n\n"
        f"{action}\n\nThe old key stays published for verification after the rotation.\n"
    )
    return subject, body


def check_expiry(session: Session, settings: Settings, now: datetime | None = None) -> list[Alarm]:
    """Raise the alarms that are due (see the module docstring); in the caller's transaction."""
    moment = now or datetime.now(UTC)
    marks = thresholds(settings.key_expiry_alarm_days)
    rows = session.scalars(
        select(models.AutomationKey)
        .where(
            models.AutomationKey.state.in_(("active", "pending")),
            models.AutomationKey.not_after.is_not(None),
        )
        .with_for_update()
    )
    raised: list[Alarm] = []
    for row in rows:
        assert row.not_after is not None
        seconds = (row.not_after - moment).total_seconds()
        days = int(seconds // 86400)
        crossed = [
            t for t in marks if (t == 0 and seconds <= 0) or (t > 0 and seconds <= t * 86400)
        ]
        if not crossed:
            continue
        mark = min(crossed)
        if mark in (row.alarms or []):
            continue
        row.alarms = sorted({*(row.alarms or []), *crossed}, reverse=True)
        recipients = _operators(session, settings)
        append_event(
            session,
            EventKind.AUTOMATION_KEY_EXPIRING,
            actor="atr-agent",
            data={
                "fingerprint": row.fingerprint,
                "use": row.use,
                "subject": row.subject,
                "not_after": row.not_after.isoformat(),
                "days_left": days,
                "threshold": mark,
                "expired": seconds <= 0,
                "mailed_to": recipients,
            },
        )
        if recipients:
            subject, body = _mail_text(row, days, settings)
            queue_mail(
                session, kind="key-expiry", sender=settings.mail_from, recipients=recipients,
                subject=subject, body=body, actor="atr-agent",
            )  # fmt: skip
        raised.append(Alarm(row.fingerprint, row.use, mark, days, row.not_after, tuple(recipients)))
    return raised
