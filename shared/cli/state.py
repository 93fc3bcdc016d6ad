"""What every ``atr`` command shares: where the agent is, the token, and how to run a coroutine.

Precedence: ``--agent`` / ``--token`` options, then ``ATR_AGENT`` / ``ATR_TOKEN``,
then the config file written by ``atr login``. A saved token is only sent to the
agent it was saved for, so ``--agent other-host`` never leaks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import click
import httpx

from shared.cli.config import Config, config_path, load_config
from shared.cli.defaults import DEFAULT_AGENT
from shared.client import AgentClient, normalize_agent_url

T = TypeVar("T")


@dataclass
class CliState:
    """The group's options, resolved lazily against the config file.

    Tests pass one as ``obj=`` to click with a ``transport`` (``httpx.MockTransport``).
    """

    agent_option: str | None = None
    token_option: str | None = None
    timeout: float = 30.0
    config_file: Path | None = None
    transport: httpx.AsyncBaseTransport | None = None
    _config: Config | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        """The config file in use."""
        if self.config_file is None:
            self.config_file = config_path()
        return self.config_file

    def config(self) -> Config:
        """The saved configuration (read once)."""
        if self._config is None:
            self._config = load_config(self.path)
        return self._config

    def agent(self) -> str:
        """The agent's base URL."""
        chosen = self.agent_option or self.config().agent or DEFAULT_AGENT
        return normalize_agent_url(chosen)

    def token(self) -> str | None:
        """The token to send: the option/env value, else the saved one for this agent."""
        if self.token_option:
            return self.token_option
        saved = self.config()
        if saved.token and saved.agent and normalize_agent_url(saved.agent) == self.agent():
            return saved.token
        return None

    def client(self, *, agent: str | None = None, token: str | None = None) -> AgentClient:
        """A new client for the resolved (or given) agent and token."""
        return AgentClient(
            agent or self.agent(),
            token=token if token is not None else self.token(),
            timeout=self.timeout,
            transport=self.transport,
        )

    def run(
        self,
        work: Callable[[AgentClient], Awaitable[T]],
        *,
        agent: str | None = None,
        token: str | None = None,
    ) -> T:
        """Run ``work(client)`` on a fresh event loop with a client that is closed afterwards."""
        client = self.client(agent=agent, token=token)

        async def main() -> T:
            async with client:
                return await work(client)

        return asyncio.run(main())


pass_state = click.make_pass_decorator(CliState, ensure=True)
"""Decorator giving a command the :class:`CliState` as first argument."""
