"""Logging in never freezes the window: the key is unlocked and used off the GUI loop's thread.

Against a real agent, with the user's real (passphrase-protected) key. The signer waits
until the Qt loop has ticked several times while it is busy; were it called on the loop's
thread, no tick could come, the handshake would give up and the assertions fail (the
wait's limit only keeps a broken build from hanging the suite).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pgpy
import pytest
from PySide6.QtCore import QTimer

from desktop.session import Session
from shared.challenge import Challenge
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.support.agent import AgentProcess

TICKS = 3
"""Qt timer ticks the loop must deliver while the challenge is being signed."""
GIVE_UP = 20.0
"""Seconds the signer waits for those ticks before it signs anyway (only a broken build)."""


class Ticker:
    """A zero-interval QTimer counting the ticks it gets while a worker is signing."""

    def __init__(self) -> None:
        self.signing = threading.Event()
        self.finished = threading.Event()
        self.ticked = threading.Event()
        self.during_signing = 0
        self._timer = QTimer()
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        if self.signing.is_set() and not self.finished.is_set():
            self.during_signing += 1
            if self.during_signing >= TICKS:
                self.ticked.set()

    def __enter__(self) -> Ticker:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.stop()


@pytest.fixture
def unlock_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The threads pgpy unlocked a key in (its S2K is the slow part of a passphrase)."""
    threads: list[int] = []
    real_unlock = pgpy.PGPKey.unlock

    def unlock(key: pgpy.PGPKey, passphrase: str) -> Any:
        threads.append(threading.get_ident())
        return real_unlock(key, passphrase)

    monkeypatch.setattr(pgpy.PGPKey, "unlock", unlock)
    yield threads


def test_login_signs_in_a_worker_thread_while_the_qt_loop_keeps_ticking(
    agent: AgentProcess,
    qloop: QtLoop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unlock_threads: list[int],
) -> None:
    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "home")
    loop_thread = threading.get_ident()
    sign_threads: list[int] = []
    ticker = Ticker()
    real_sign: Callable[..., str] = keystore.sign_challenge

    def sign(fingerprint: str, data: Challenge, *, passphrase: str | None = None) -> str:
        sign_threads.append(threading.get_ident())
        ticker.signing.set()
        ticker.ticked.wait(GIVE_UP)  # the loop ticks meanwhile, or this thread is the loop's
        try:
            return real_sign(fingerprint, data, passphrase=passphrase)  # unlock (S2K) and sign
        finally:
            ticker.finished.set()

    monkeypatch.setattr(keystore, "sign_challenge", sign)
    unlock_threads.clear()
    session = Session(keystore)
    with ticker:
        user = qloop.run(session.login(agent.url, "alice", fingerprint, passphrase=PASSPHRASE))

    assert user.name == "alice" and session.user == user
    assert len(sign_threads) == 1, "the challenge was not signed exactly once"
    assert sign_threads[0] != loop_thread, "the challenge was signed on the GUI loop's thread"
    assert unlock_threads, "the key was not unlocked with its passphrase"
    assert loop_thread not in unlock_threads, "the key was unlocked on the GUI loop's thread"
    assert ticker.ticked.is_set(), "the Qt loop did not tick while the challenge was signed"
    assert ticker.during_signing >= TICKS
    qloop.run(session.aclose())
