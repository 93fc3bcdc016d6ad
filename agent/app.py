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

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from agent import ws
from agent.api import API_PREFIX, api_routers, install_error_handlers
from agent.api.access import guard, register, route_keys
from agent.api.deps import AgentState
from agent.api.health import agent_version
from agent.api.limits import BodyLimits
from agent.api.openapi import install_openapi
from agent.config import Settings
from agent.distribute.channels.svn import create_repository
from agent.distribute.service import DistributionService
from agent.engine.supervisor import Supervisor
from agent.provenance.schedule import expiry_step
from agent.triggers.distwatch import DistWatcher
from agent.triggers.metrics import Metrics, RequestMetrics
from agent.votes.scheduler import build_scheduler

log = logging.getLogger(__name__)


def _supervisor(settings: Settings) -> Supervisor:
    return Supervisor(
        database_url=settings.db_url,
        data_dir=settings.data_dir,
        workers=settings.workers,
        lease_seconds=settings.lease_seconds,
        poll_interval=settings.worker_poll_seconds,
        recycle_rss_mb=settings.worker_recycle_mb,
        max_blob_size=settings.max_upload_bytes,
        log_level=settings.log_level.upper(),
        settings_json=settings.model_dump_json(),
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
        app.state.distribution = DistributionService(
            settings=settings,
            transaction=state.transaction,
            read=state.read,
            templates=scheduler.votes.templates,
            on_mail=scheduler.wake,
        )
        scheduler.steps.append(expiry_step(settings, state.transaction))  # key expiry alarms
        if settings.dist_svn_url is None:  # the embedded dist repository
            await asyncio.to_thread(create_repository, settings.data_dir / "dist-svn")
        # issue 9: metrics from the event log, and the dist repository's watcher
        app.state.metrics = Metrics(state.read_factory, state.bus)
        await asyncio.to_thread(app.state.metrics.start_at_current)
        watcher = DistWatcher(settings, transaction=state.transaction)
        app.state.dist_watcher = watcher
        await watcher.start()
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
            await watcher.stop()
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
    install_openapi(app)
    mounts = api_routers(settings)
    register((m.router, m.prefix) for m in mounts)  # every route has its access rule
    for mount in mounts:
        app.include_router(mount.router, prefix=mount.prefix, dependencies=[Depends(guard)])
    app.add_middleware(
        BodyLimits,
        default=settings.max_json_bytes,
        special=[
            (mount.prefix + route.path, mount.max_body_size)
            for mount in mounts
            if mount.max_body_size != settings.max_json_bytes
            for route in mount.router.routes
            if isinstance(route, APIRoute)
        ],
    )
    templates = {
        endpoint: key.split(" ", 1)[1]
        for mount in mounts
        for key, endpoint in route_keys(mount.router, mount.prefix).items()
    }
    app.add_middleware(
        RequestMetrics, metrics=lambda: getattr(app.state, "metrics", None), templates=templates
    )
    app.include_router(ws.router, prefix=API_PREFIX)  # authenticates in its hello frame
    return app
