"""The ``atr-agent`` console script: imports the command line when it runs.

The script imports only this module, so that what it names stays small; the command
line (:mod:`agent.cli`) is imported when it runs, under :func:`importing`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def importing() -> Iterator[None]:
    """Cyclic garbage collection off while a process imports its modules and builds what
    lives as long as it (the app, its routes): collections then find nothing to free and
    cost about 15 % of the start. Afterwards those objects are frozen out of later
    collections (:func:`gc.freeze`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.freeze()


def main() -> None:
    """Run ``atr-agent`` (see :mod:`agent.cli`)."""
    with importing():
        from agent.cli import main as cli_main  # noqa: PLC0415 - see the module docstring

    cli_main()
