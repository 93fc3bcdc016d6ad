"""The agent's scheduler: decides votes whose time is up, reads the vote Maildir, sends mail.

One asyncio task per agent process, started and stopped by the app's lifespan.
Every ``scheduler_interval_seconds`` (or at once when :meth:`Scheduler.wake` is
called, e.g. after a request queued mail) it runs one :meth:`Scheduler.tick` in
a thread:

1. :meth:`VoteService.decide_due` — open votes whose end time has passed are
   decided; each decision claims its vote with a conditional UPDATE, so with
   several agents on one PostgreSQL database a vote is decided exactly once;
2. :meth:`VoteService.scan_maildir` — when ``vote_maildir`` is configured;
3. :attr:`Scheduler.steps` — more periodic work other resources add (the automation keys'
   expiry alarms, :mod:`agent.provenance.alarms`);
4. :meth:`Mailer.deliver_due` — the outbox (claimed per message the same way).

A failing step is logged and tried again on the next tick; it never stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from agent.config import Settings
from agent.mail.delivery import DeliveryReport, Mailer
from agent.mail.render import MailTemplates
from agent.mail.transport import transport_for
from agent.votes.service import VoteService

__all__ = ["Scheduler", "TickReport", "build_scheduler"]

log = logging.getLogger(__name__)

STOP_SECONDS = 30.0
"""How long stopping waits for a tick under way."""


@dataclass
class TickReport:
    """What one tick did."""

    decided: list[int] = field(default_factory=list)
    email_ballots: int = 0
    mail: DeliveryReport = field(default_factory=DeliveryReport)


class Scheduler:
    """Runs :meth:`tick` periodically and on demand (see the module docstring)."""

    def __init__(self, *, votes: VoteService, mailer: Mailer, interval: float) -> None:
        self.votes = votes
        self.mailer = mailer
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self.steps: list[tuple[str, Callable[[datetime], object]]] = []
        """More periodic work: (name, a callable given the tick's time), run before the mail."""

    def tick(self, now: datetime | None = None) -> TickReport:
        """One pass of every step (blocking; runs in a thread)."""
        report = TickReport()
        moment = now or datetime.now(UTC)
        try:
            report.decided = self.votes.decide_due(moment)
        except Exception:
            log.exception("deciding due votes failed; trying again next time")
        maildir = self.votes.settings.vote_maildir
        if maildir is not None:
            try:
                report.email_ballots = self.votes.scan_maildir(maildir)
            except Exception:
                log.exception("reading email ballots from %s failed", maildir)
        for name, step in self.steps:
            try:
                step(moment)
            except Exception:
                log.exception("%s failed; trying again next time", name)
        try:
            report.mail = self.mailer.deliver_due()
        except Exception:
            log.exception("delivering mail failed; trying again next time")
        return report

    def wake(self) -> None:
        """Run a tick soon. Safe to call from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        """Start the loop on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="atr-scheduler")

    async def stop(self) -> None:
        """Stop the loop, letting a tick under way finish (cancelled after STOP_SECONDS)."""
        task, self._task = self._task, None
        self._stopping = True
        self._wake.set()
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=STOP_SECONDS)
            except TimeoutError:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        self._loop = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await asyncio.to_thread(self.tick)
            if self._stopping:
                break
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that comes
            # as the wake event fires, and the loop would run on after stop() gave up
            with suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()


def build_scheduler(
    settings: Settings,
    *,
    transaction: Callable[[], AbstractContextManager[Session]],
    read: Callable[[], AbstractContextManager[Session]],
) -> Scheduler:
    """The vote service, the mailer and the scheduler of one agent, wired together."""
    votes = VoteService(
        transaction=transaction,
        read=read,
        settings=settings,
        templates=MailTemplates(settings.data_dir),
    )
    mailer = Mailer(
        transaction=transaction,
        transport=transport_for(settings),
        max_attempts=settings.mail_max_attempts,
        retry_seconds=settings.mail_retry_seconds,
        lease_seconds=max(300.0, settings.smtp_timeout_seconds * 4),
        read=read,
    )
    scheduler = Scheduler(votes=votes, mailer=mailer, interval=settings.scheduler_interval_seconds)
    votes.on_mail = scheduler.wake
    return scheduler
