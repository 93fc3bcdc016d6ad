"""The FastAPI application factory.

:func:`create_app` builds the app; its lifespan migrates the database, opens the
blob store, starts the event bus and (unless told not to) the worker
supervisor, and undoes all of it, in reverse order, on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent import ws
from agent.api import API_PREFIX, api_router, install_error_handlers
from agent.api.deps import AgentState
from agent.api.health import agent_version
from agent.api.health import public_router as health_public_router
from agent.api.keys import public_router as keys_public_router
from agent.api.pages import router as pages_router
from agent.config import Settings
from agent.engine.supervisor import Supervisor
from agent.votes.scheduler import build_scheduler

log = logging.getLogger(__name__)


def _supervisor(settings: Settings) -> Supervisor:
    return Supervisor(
        database_url=settings.db_url,
        data_dir=settings.data_dir,
        workers=settings.workers,
        lease_seconds=settings.lease_seconds,
        poll_interval=settings.worker_poll_seconds,
        max_blob_size=settings.max_upload_bytes,
        log_level=settings.log_level.upper(),
    )


def create_app(settings: Settings, *, start_workers: bool = True) -> FastAPI:
    """The agent's ASGI app: REST under ``/api/v1``, websocket at ``/api/v1/ws``.

    ``start_workers=False`` runs the API without worker processes (tasks stay queued
    until some workers — ``atr-agent workers`` — claim them).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await asyncio.to_thread(AgentState.open, settings)
        app.state.agent = state
        await state.bus.start()
        scheduler = build_scheduler(settings, transaction=state.transaction, read=state.read)
        app.state.scheduler = scheduler  # votes and mail (agent.votes.scheduler)
        await scheduler.start()
        supervisor: Supervisor | None = None
        if start_workers and settings.workers > 0:
            supervisor = _supervisor(settings)
            await asyncio.to_thread(supervisor.start)
        log.info(
            "agent ready: %s, data dir %s, %d workers",
            settings.effective_public_url,
            settings.data_dir,
            settings.workers if supervisor else 0,
        )
        try:
            yield
        finally:
            if supervisor is not None:
                await asyncio.to_thread(supervisor.stop)
            await scheduler.stop()
            await state.bus.stop()
            await asyncio.to_thread(state.close)

    app = FastAPI(
        title="ATR agent",
        version=agent_version(),
        description="Trusted release manager agent: REST API and websocket event stream.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(api_router(), prefix=API_PREFIX)
    app.include_router(ws.router, prefix=API_PREFIX)
    app.include_router(health_public_router)  # GET /health, for probes (also /api/v1/health)
    app.include_router(keys_public_router)  # GET /projects/{key}/KEYS, public
    app.include_router(pages_router)  # GET /projects/{key}/candidates/{version}/, public
    return app
