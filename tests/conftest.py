"""Fixtures shared by every test package.

``agent``          a running agent (module scope), seeded as tests/support/agent.py describes
``agent_factory``  start more agents with options: ``agent_factory(env={...}, workers=0)``
``postgres_server`` one throwaway PostgreSQL server per session (tests/support/postgres.py)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Load pydantic whole before any test module imports it lazily: with PySide6 loaded (by
# pytest-qt), shiboken's import hook inspects modules as they load and can re-enter
# pydantic's lazy attribute lookup while pydantic is half imported (an ImportError at
# collection). The product's own processes import the protocol models before that matters.
import shared.protocol  # noqa: F401 - imported for its side effect, see above
from tests.support.agent import AgentFactory, AgentProcess
from tests.support.postgres import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]  # session fixtures, shared by every module


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """One real ``atr-agent serve`` (SQLite, one worker) shared by a test module."""
    process = AgentProcess(tmp_path_factory.mktemp("agent"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[AgentFactory]:
    """Start agents with their own options; all are stopped at the end of the test."""
    factory = AgentFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()
