"""Public pages the agent serves: the release candidate page (and, later, the download page),
both from one template (:mod:`agent.pages.page`)."""

from agent.pages.page import (
    PageArtifact,
    ReleasePage,
    candidate_page,
    content_security_policy,
    render_page,
)

__all__ = [
    "PageArtifact",
    "ReleasePage",
    "candidate_page",
    "content_security_policy",
    "render_page",
]
