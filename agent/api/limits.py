"""Request bodies are refused unread beyond their route's limit, with an ``ErrorBody``.

Every route takes at most ``max_json_bytes``; uploads and mail imports have larger limits
of their own (:func:`agent.api.api_routers`). A declared ``Content-Length`` over the limit
is answered 413 at once, before anything is read; a body without one (chunked) is counted
as it arrives and refused as soon as it passes the limit, so no handler ever parses it.
Starlette's own limiter answers in plain text; the agent answers every error as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.api.errors import BodyTooLarge, body_too_large


class BodyLimits:
    """ASGI middleware: ``default`` bytes for every HTTP request, ``special`` (path template,
    limit) pairs for the routes that take more."""

    def __init__(
        self, app: ASGIApp, *, default: int, special: Iterable[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.default = default
        self.special: list[tuple[re.Pattern[str], int]] = [
            (compile_path(path)[0], limit) for path, limit in special
        ]

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.special:
            if pattern.match(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await body_too_large(BodyTooLarge(limit))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)  # inside the handler: its error handler answers
            return message

        await self.app(scope, counted, send)
