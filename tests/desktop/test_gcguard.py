"""The GUI-thread garbage collector used by the application."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from desktop.gcguard import GuiThreadCollector


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle only the cyclic collector frees


def test_collects_cycles_from_its_timer_only(qapp: Any) -> None:
    was_enabled = gc.isenabled()
    collector = GuiThreadCollector(interval_ms=10)
    collector.start()
    try:
        assert not gc.isenabled()
        node = _Node()
        alive = weakref.ref(node)
        del node
        for _ in range(gc.get_threshold()[0] + 10):
            _Node()  # allocations past the threshold
        assert alive() is not None  # automatic collection is off
        collector.check()
        assert alive() is None
    finally:
        collector.stop()
    assert gc.isenabled() == was_enabled
