"""Disconnecting a Qt signal without PySide6 6.12's reference-count bug.

``signal.disconnect(slot)`` in PySide6 6.12 drops one reference to Python's ``True``
each time it is called; after enough calls the interpreter aborts in ``bool_dealloc``
(a long desktop session with many uploads would crash). Disconnecting by the
connection handle that ``connect()`` returned is not affected, so the desktop keeps
that handle and disconnects it here.
"""

from __future__ import annotations

from PySide6.QtCore import QMetaObject, QObject


def disconnect(connection: QMetaObject.Connection) -> None:
    """Drop a connection made with ``signal.connect(...)`` (doing nothing if it is gone)."""
    QObject.disconnect(connection)
