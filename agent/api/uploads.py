"""``POST /uploads``: stream a request body into the blob store.

The body is never read whole: ``request.stream()`` chunks go straight to
:meth:`agent.blobs.BlobStore.put_stream`, which hashes and writes them to a
temporary file, so a multi-gigabyte upload keeps the agent's memory flat.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.blobs import BlobTooLarge
from agent.store import Principal, Store
from shared.errors import ValidationError
from shared.protocol import BlobInfo

log = logging.getLogger(__name__)

router = APIRouter(tags=["uploads"])


class UploadAborted(ValidationError):
    """The client closed the connection before the whole body arrived (nothing is kept)."""


class _Counted:
    """The request body's chunks, counting the bytes that arrived."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self.received = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._request.stream():
            self.received += len(chunk)
            yield chunk


State = Annotated[AgentState, Depends(get_state)]


def _check_uploader(state: AgentState, principal: Principal) -> None:
    with state.read() as session:
        Store(session, principal).as_uploader()


def _record(
    state: AgentState, principal: Principal, info: BlobInfo, filename: str | None
) -> BlobInfo:
    with state.write(principal) as writer:
        return writer.as_uploader().record_blob(info, filename=filename)


@router.post("/uploads", response_model=BlobInfo, status_code=201)
async def upload(
    request: Request,
    principal: CurrentPrincipal,
    state: State,
    x_atr_filename: Annotated[str | None, Header()] = None,
) -> BlobInfo:
    """Store the raw request body as a blob (committers). 413 ``too_large`` over the limit.

    ``X-Atr-Filename`` (percent-encoded) only labels the ``blob.stored`` event.
    """
    await run_in_threadpool(_check_uploader, state, principal)
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ValidationError(f"Content-Length {length!r} is not a number")
        if int(length) > state.blobs.max_size:
            raise BlobTooLarge(state.blobs.max_size)
    filename = unquote(x_atr_filename)[:255] if x_atr_filename else None
    body = _Counted(request)
    try:
        info = await state.blobs.put_stream(
            body.chunks(), size_hint=int(length) if length is not None else 0
        )
    except ClientDisconnect:
        # The client went away (cancelled, killed, network cut): one line, no traceback.
        log.info(
            "upload%s by %s aborted by the client after %s of %s bytes; nothing was kept",
            f" of {filename!r}" if filename else "",
            principal.name,
            f"{body.received:,}",
            f"{int(length):,}" if length is not None else "?",
        )
        raise UploadAborted(
            f"the upload was aborted after {body.received} bytes; nothing was kept"
        ) from None
    return await run_in_threadpool(_record, state, principal, info, filename)
