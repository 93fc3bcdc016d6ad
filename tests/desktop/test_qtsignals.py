"""desktop.qtsignals.disconnect: drops the connection and leaves Python's ``True`` alone."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.qtsignals import disconnect


class _Sender(QObject):
    fired = Signal(int)


class _Receiver(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[int] = []

    def take(self, value: int) -> None:
        self.got.append(value)


def test_disconnect_drops_the_connection(qapp: Any) -> None:
    sender, receiver = _Sender(), _Receiver()
    connection = sender.fired.connect(receiver.take)
    sender.fired.emit(1)
    disconnect(connection)
    sender.fired.emit(2)
    disconnect(connection)  # a second time does nothing
    assert receiver.got == [1]


def test_many_disconnects_keep_the_reference_count_of_true(qapp: Any) -> None:
    sender, receiver = _Sender(), _Receiver()
    before = sys.getrefcount(True)
    for _ in range(2000):
        disconnect(sender.fired.connect(receiver.take))
    assert abs(sys.getrefcount(True) - before) <= 2
