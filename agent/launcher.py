"""The ``atr-agent`` console script: imports the command line when it runs.

Worker processes are started with multiprocessing's ``spawn``, which imports the
parent's main script again in each child; the script imports only this module, so an
idle worker does not hold the agent's whole command line (the store, OpenPGP…).
"""

from __future__ import annotations


def main() -> None:
    """Run ``atr-agent`` (see :mod:`agent.cli`)."""
    from agent.cli import main as cli_main  # noqa: PLC0415 - see the module docstring

    cli_main()
