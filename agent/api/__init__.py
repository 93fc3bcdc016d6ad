"""The REST API under ``/api/v1``: one router per resource (see docs/architecture.md).

Routers parse input, call :mod:`agent.store` (or :mod:`agent.auth`) and return
protocol models; :mod:`agent.api.errors` maps every error to an ``ErrorBody``, and
:mod:`agent.api.access` decides who may call each route before its handler runs.
The routers are imported by :func:`api_routers` only, so that :mod:`agent.auth`
can use :mod:`agent.api.deps` without an import cycle.
"""

from dataclasses import dataclass

from fastapi import APIRouter

from agent.api.errors import install_error_handlers
from agent.config import Settings

API_PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class Mount:
    """A router, where it is served, and the largest request body its routes take
    (:class:`agent.api.limits.BodyLimits` enforces it)."""

    router: APIRouter
    prefix: str
    max_body_size: int


def api_routers(settings: Settings) -> list[Mount]:
    """Every router the agent serves: the REST API under :data:`API_PREFIX`, and the public
    pages (KEYS, candidate pages) at the top level. JSON bodies are refused unread beyond
    ``max_json_bytes``; uploads and mail imports have limits of their own."""
    from agent.api import (  # noqa: PLC0415 - see the module docstring
        auth,
        blobs,
        checks,
        committees,
        distribute,
        downloads,
        events,
        health,
        keys,
        metrics,
        pages,
        projects,
        provenance,
        releases,
        revisions,
        tasks,
        tokens,
        triggers,
        uploads,
        users,
        votes,
    )

    json_limit = settings.max_json_bytes
    mounts = [
        Mount(module.router, API_PREFIX, json_limit)
        for module in (
            health,
            auth,
            users,
            committees,
            projects,
            keys,
            releases,
            revisions,
            blobs,
            tasks,
            events,
            tokens,
            checks,
            votes,
            distribute,
            provenance,
            triggers,
        )
    ]
    # the blob store refuses an upload over max_upload_bytes itself, with a clearer message
    mounts.append(Mount(uploads.router, API_PREFIX, settings.max_upload_bytes + 2**20))
    mounts.append(Mount(votes.mail_router, API_PREFIX, settings.max_mail_import_bytes))
    mounts.append(Mount(health.public_router, "", json_limit))  # GET /health, for probes
    mounts.append(Mount(keys.public_router, "", json_limit))  # GET /projects/{key}/KEYS
    mounts.append(Mount(pages.router, "", json_limit))  # the candidate pages
    mounts.append(Mount(downloads.router, "", json_limit))  # the download pages
    mounts.append(Mount(provenance.public_router, "", json_limit))  # published keys, bundles
    # a GitHub webhook payload may reach 25 MB; the project page; Prometheus
    mounts.append(Mount(triggers.hooks_router, API_PREFIX, 25 * 2**20))
    mounts.append(Mount(triggers.public_router, "", json_limit))
    mounts.append(Mount(metrics.router, "", json_limit))
    return mounts


__all__ = ["API_PREFIX", "Mount", "api_routers", "install_error_handlers"]
