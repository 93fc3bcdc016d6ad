"""The REST API under ``/api/v1``: one router per resource (see docs/architecture.md).

Routers parse input, call :mod:`agent.store` (or :mod:`agent.auth`) and return
protocol models; :mod:`agent.api.errors` maps every error to an ``ErrorBody``.
The routers are imported by :func:`api_router` only, so that :mod:`agent.auth`
can use :mod:`agent.api.deps` without an import cycle.
"""

from fastapi import APIRouter

from agent.api.errors import install_error_handlers

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    """Every REST router, to be mounted under :data:`API_PREFIX`."""
    from agent.api import (  # noqa: PLC0415 - see the module docstring
        auth,
        blobs,
        checks,
        committees,
        events,
        health,
        keys,
        projects,
        releases,
        revisions,
        tasks,
        tokens,
        uploads,
        users,
        votes,
    )

    router = APIRouter()
    for module in (
        health,
        auth,
        users,
        committees,
        projects,
        keys,
        releases,
        revisions,
        uploads,
        blobs,
        tasks,
        events,
        tokens,
        checks,
        votes,
    ):
        router.include_router(module.router)
    return router


__all__ = ["API_PREFIX", "api_router", "install_error_handlers"]
