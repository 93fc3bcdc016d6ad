"""``atr``: the command-line client of the agent (console script ``atr`` → :func:`main`).

See docs/cli.md for the commands, the configuration file and the exit codes.
"""

from shared.cli.exit_codes import ExitCode
from shared.cli.main import main

__all__ = ["ExitCode", "main"]
