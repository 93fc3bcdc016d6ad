"""Fixtures for the desktop tests: offscreen Qt, a qasync loop, an in-memory keyring, a data dir.

qasync and pytest-asyncio must not fight over the event loop, so desktop tests are
plain (sync) test functions: they drive coroutines with ``qloop.run(coro)``, which
runs them on a :class:`qasync.QEventLoop` built on pytest-qt's ``qapp`` — Qt
signals and asyncio callbacks then share one loop, as in the application.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring  # after the Qt platform is chosen
import keyring.backend
import keyring.errors
import pytest
import qasync

from desktop.keystore import Keystore

T = TypeVar("T")

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder drives the desktop: mark it ``desktop``."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.desktop)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A test keyring backend: passwords in a dict, gone when the test ends."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such password")


class BrokenKeyring(keyring.backend.KeyringBackend):
    """A test keyring backend that has no storage (like a headless machine)."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.NoKeyringError("no keyring backend in this test")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.NoKeyringError("no keyring backend in this test")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.NoKeyringError("no keyring backend in this test")


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every desktop test uses a fresh in-memory keyring (never the machine's)."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def desktop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$ATR_DESKTOP_HOME``: keys and settings of this test only."""
    home = tmp_path / "desktop-home"
    monkeypatch.setenv("ATR_DESKTOP_HOME", str(home))
    return home


@pytest.fixture
def keystore(desktop_home: Path) -> Keystore:
    return Keystore.default()


class QtLoop:
    """Runs coroutines on a qasync loop over the test's QApplication.

    ``qasync.QEventLoop.run_until_complete`` processes Qt events once more after
    the loop has stopped, so asyncio callbacks due then would run with no running
    loop (httpx and anyio refuse that). :meth:`run` stops exactly when the awaited
    work is done instead; jobs still pending simply go on at the next :meth:`run`.
    """

    def __init__(self, loop: qasync.QEventLoop) -> None:
        self.loop = loop

    def run(self, awaitable: Awaitable[T], *, timeout: float = 60.0) -> T:
        """Run ``awaitable`` to completion (Qt events are processed meanwhile)."""

        async def bounded() -> T:
            return await asyncio.wait_for(awaitable, timeout)

        future = asyncio.ensure_future(bounded(), loop=self.loop)
        future.add_done_callback(lambda _f: self.loop.stop())
        self.loop.run_forever()
        if not future.done():
            raise RuntimeError("the Qt event loop stopped before the work was done")
        return future.result()

    def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float = 30.0, what: str = "condition"
    ) -> None:
        """Let the loop run until ``predicate()`` holds; fail after ``timeout`` seconds."""
        self.run(until(predicate, within=timeout, what=what), timeout=timeout + 5)

    def settle(self, seconds: float = 0.1) -> None:
        """Let the loop run for a moment (timers, queued signals)."""
        self.run(asyncio.sleep(seconds))


async def until(
    predicate: Callable[[], bool], *, within: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` every 20 ms while the loop runs; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def qloop(qapp: Any, qtbot: Any) -> Iterator[QtLoop]:
    """A qasync loop on pytest-qt's QApplication, closed (with leftovers cancelled) after.

    It asks for ``qtbot`` so that it is torn down first: pytest-qt's cleanup then
    processes Qt events with no asyncio work left to run.
    """
    qapp.setQuitOnLastWindowClosed(False)  # as the application: closing a dialog is no quit
    # Collect earlier tests' Qt objects here, on the GUI thread: left to the cyclic GC they
    # could be destroyed on a worker thread (key generation), which crashes Qt.
    gc.collect()
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    runner = QtLoop(loop)
    try:
        yield runner
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            runner.run(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)
        gc.collect()
