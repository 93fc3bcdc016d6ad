"""The provenance step of the agent's scheduler: the expiry alarms, at most every
``key_expiry_check_seconds`` (light to import: the alarms module is loaded on first use)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy.orm import Session

from agent.config import Settings

__all__ = ["expiry_step"]


def expiry_step(
    settings: Settings, transaction: Callable[[], AbstractContextManager[Session]]
) -> tuple[str, Callable[[datetime], object]]:
    """A named scheduler step that runs :func:`agent.provenance.alarms.check_expiry`."""
    last: list[datetime] = []

    def step(now: datetime) -> object:
        if last and (now - last[0]).total_seconds() < settings.key_expiry_check_seconds:
            return None
        from agent.provenance.alarms import check_expiry  # noqa: PLC0415

        with transaction() as session:
            raised = check_expiry(session, settings, now)
        last[:] = [now]
        return raised

    return "automation key expiry alarms", step
