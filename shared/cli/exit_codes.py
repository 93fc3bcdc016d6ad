"""The exit codes of ``atr`` and the one function that picks one for an error."""

from __future__ import annotations

from enum import IntEnum

from shared.errors import ApiError, AtrError, ConnectionFailed, TransitionError


class ExitCode(IntEnum):
    """What ``atr`` exits with; documented in ``atr --help`` and docs/cli.md."""

    OK = 0
    FAILED = 1
    """The command ran and what it ran failed (a task failed; the agent had an internal error)."""
    USAGE = 2
    """Usage error, bad input, or the command could not run (bad answer, protocol mismatch)."""
    AUTH = 3
    """The agent refused the credentials (401) or the role is too low (403)."""
    NOT_FOUND = 4
    CANNOT_CONNECT = 5
    CONFLICT = 6
    """The request conflicts with the current state, e.g. an invalid phase transition."""
    INTERRUPTED = 130
    """Stopped with Ctrl-C (except ``atr watch --project``, for which Ctrl-C is the normal end)."""
    OUTPUT_CLOSED = 141
    """The output was closed before everything was written (``atr events | head``): the status
    of a Unix tool ended by SIGPIPE (128 + 13). Nothing is printed."""


EPILOG = """\b
Exit codes:
  0  ok
  1  the command ran and failed (e.g. the watched task failed)
  2  usage error, bad input, or the command could not run
  3  authentication or permission refused (HTTP 401/403)
  4  not found (HTTP 404)
  5  cannot reach the agent
  6  conflict with the current state (HTTP 409, e.g. an invalid transition)
  130  interrupted (Ctrl-C)
  141  the output was closed early (e.g. `atr events | head`)
"""


_BY_STATUS = {
    401: ExitCode.AUTH,
    403: ExitCode.AUTH,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
}


def exit_code_for(error: AtrError) -> ExitCode:
    """The exit code for an error that ends a command."""
    if isinstance(error, ConnectionFailed):
        return ExitCode.CANNOT_CONNECT
    if isinstance(error, ApiError):
        if error.status >= 500:
            return ExitCode.FAILED
        return _BY_STATUS.get(error.status, ExitCode.USAGE)
    if isinstance(error, TransitionError):
        return ExitCode.CONFLICT
    return ExitCode.USAGE
