"""The ``atr-agent`` console script: imports the command line when it runs.

The script imports only this module, so that what it names stays small; the command
line (:mod:`agent.cli`) is imported when it runs.
"""

from __future__ import annotations


def main() -> None:
    """Run ``atr-agent`` (see :mod:`agent.cli`)."""
    from agent.cli import main as cli_main  # noqa: PLC0415 - see the module docstring

    cli_main()
