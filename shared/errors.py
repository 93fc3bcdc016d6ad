"""The error root shared by every package of the product.

::

    AtrError                      anything the product refuses or cannot do
    ├── ValidationError           input that breaks a rule (bad identifier, bad path)
    ├── TransitionError           a release phase change the lifecycle forbids
    ├── OpenPGPError              a key or signature that cannot be used
    │   └── SignatureError        a signature that does not verify
    └── ClientError               raised by :class:`shared.client.AgentClient`
        ├── ConnectionFailed      the agent cannot be reached
        ├── ProtocolMismatch      the agent speaks another protocol version
        └── ApiError              the agent answered with an error status

Every error carries a message written for people; :meth:`AtrError.diagnostics`
adds a hint where there is one. Desktop and CLI show errors in one place each.
"""

from __future__ import annotations


class AtrError(Exception):
    """Root of the product's errors. ``str(err)`` is a sentence for people."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__

    def diagnostics(self) -> str:
        """The message plus its hint, ready to show to a person."""
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class ValidationError(AtrError):
    """Input that breaks a rule: a bad identifier, an unsafe path, a malformed value."""


class TransitionError(AtrError):
    """A release phase change that the lifecycle table does not allow."""


class OpenPGPError(AtrError):
    """A key or signature that cannot be read or used."""


class SignatureError(OpenPGPError):
    """A signature that does not verify against the keys given."""


class ClientError(AtrError):
    """An error met by the agent client."""


class ConnectionFailed(ClientError):
    """The agent cannot be reached."""


class ProtocolMismatch(ClientError):
    """The agent speaks a protocol version this client does not."""


class ApiError(ClientError):
    """The agent answered a request with an error status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        """Seconds after which asking again may succeed (the answer's ``Retry-After``)."""
