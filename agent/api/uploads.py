"""``POST /uploads``: stream a request body into the blob store.

The body is never read whole: ``request.stream()`` chunks go straight to
:meth:`agent.blobs.BlobStore.put_stream`, which hashes and writes them to a
temporary file, so a multi-gigabyte upload keeps the agent's memory flat.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from agent.api.deps import AgentState, get_state
from agent.auth import CurrentPrincipal
from agent.blobs import BlobTooLarge
from agent.store import Principal, Store
from shared.errors import ValidationError
from shared.protocol import BlobInfo

router = APIRouter(tags=["uploads"])

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
    info = await state.blobs.put_stream(request.stream())
    return await run_in_threadpool(_record, state, principal, info, filename)
