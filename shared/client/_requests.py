"""What the method mixins of :class:`~shared.client.AgentClient` need of it.

``KeysMethods`` and ``VotesMethods`` group endpoints by resource; they call the
client's two request primitives, declared here once for the type checker and
defined by ``AgentClient`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx

    from shared.protocol.models import Model

T = TypeVar("T")


class RequestMethods:
    """Base of the resource mixins: ``_call`` answers a protocol model, ``_send`` a response."""

    if TYPE_CHECKING:

        async def _call(
            self,
            answer: type[T],
            method: str,
            path: str,
            *,
            body: Model | None = None,
            params: Mapping[str, str | int] | None = None,
        ) -> T: ...

        async def _send(
            self,
            method: str,
            path: str,
            *,
            body: Model | None = None,
            params: Mapping[str, str | int] | None = None,
            content: Any = None,
            headers: Mapping[str, str] | None = None,
            stream: bool = False,
        ) -> httpx.Response: ...
