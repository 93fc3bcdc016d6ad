"""The release page: one Jinja2 template for the candidate page and the download page.

:func:`candidate_page` builds the page of a release's latest vote from the
database; :func:`render_page` renders any :class:`ReleasePage` — with
``candidate=False`` it is the project's download page (no banner, no tally:
release candidates are never linked from a download page).

Each artifact (a file that is not a signature, checksum or SBOM) is listed with
its size and SHA-512 and links to its ``.asc``, ``.sha512``/``.sha256`` and SBOM
when the revision has them. Pages are rendered with HTML escaping on; the one
inline script and style carry a per-response nonce allowed by the page's
Content-Security-Policy, so nothing else runs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import quote

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from agent.store import NotFound, release_row
from agent.votes import views
from shared.protocol.votes import Tally
from shared.votes import is_artifact

__all__ = [
    "SBOM_SUFFIX",
    "PageArtifact",
    "ReleasePage",
    "candidate_page",
    "content_security_policy",
    "render_page",
    "sbom_artifact",
]

SBOM_SUFFIX = ".cdx.json"
"""The candidate page serves the SBOM the agent made for ``A`` at ``A.cdx.json``."""
POLL_MS = 15_000

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("agent.pages", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True, slots=True)
class PageArtifact:
    """One artifact row of the page."""

    name: str
    size: int
    sha512: str
    url: str | None
    asc_url: str | None = None
    sha512_url: str | None = None
    sha256_url: str | None = None
    sbom_url: str | None = None

    @property
    def size_text(self) -> str:
        value = float(self.size)
        for unit in ("bytes", "KB", "MB", "GB"):
            if value < 1000 or unit == "GB":
                return f"{self.size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
            value /= 1000
        return f"{self.size} bytes"  # pragma: no cover - the loop always returns


@dataclass(frozen=True, slots=True)
class ReleasePage:
    """Everything the template shows."""

    project_key: str
    project_name: str
    version: str
    keys_url: str
    artifacts: list[PageArtifact]
    candidate: bool
    revision: int | None = None
    vote_open: bool = False
    outcome: str = ""
    reason: str = ""
    round: str = "project"
    ends_at_text: str = ""
    list_address: str = ""
    tally: Tally | None = None
    tally_url: str = ""
    voters_name: str = "project's PMC"
    poll_ms: int = POLL_MS
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def example(self) -> str:
        """An artifact name for the verification commands."""
        return self.artifacts[0].name if self.artifacts else "ARTIFACT"


def render_page(page: ReleasePage, *, nonce: str) -> str:
    """The page's HTML (``nonce`` must match the response's CSP)."""
    return _ENV.get_template("release_page.html.j2").render(page=page, nonce=nonce)


def new_nonce() -> str:
    """A fresh CSP nonce."""
    return secrets.token_urlsafe(18)


def content_security_policy(nonce: str) -> str:
    """The page's CSP: only its own nonce'd style and script; fetches to the agent itself."""
    return (
        "default-src 'none'; "
        f"style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def sbom_artifact(path: str) -> str | None:
    """``A.cdx.json`` → ``A`` (the artifact whose SBOM it names); else None."""
    return path[: -len(SBOM_SUFFIX)] if path.endswith(SBOM_SUFFIX) else None


def _artifacts(
    session: Session, revision: models.Revision, base: str, *, serve: bool
) -> list[PageArtifact]:
    files = {f.path: f for f in revision.files}
    sboms = set(
        session.scalars(
            select(models.RevisionSbom.artifact).where(
                models.RevisionSbom.revision_id == revision.id
            )
        )
    )

    def link(path: str) -> str | None:
        return base + quote(path, safe="/") if serve and path in files else None

    out = []
    for path, f in sorted(files.items()):
        if not is_artifact(path) or path.endswith(SBOM_SUFFIX):
            continue
        sbom = path + SBOM_SUFFIX
        out.append(
            PageArtifact(
                name=path,
                size=f.blob.size,
                sha512=f.blob.sha512,
                url=link(path),
                asc_url=link(path + ".asc"),
                sha512_url=link(path + ".sha512"),
                sha256_url=link(path + ".sha256"),
                sbom_url=(base + quote(sbom, safe="/"))
                if serve and (sbom in files or path in sboms)
                else None,
            )
        )
    return out


def candidate_page(
    session: Session, project: str, version: str, links: views.Links
) -> tuple[ReleasePage, models.Vote]:
    """The candidate page of the release's latest vote; :class:`NotFound` if it had none."""
    release = release_row(session, project, version)
    vote = views.latest_vote(session, release)
    if vote is None:
        raise NotFound(f"{project} {version} has no release candidate under vote")
    revision = session.get(models.Revision, vote.revision_id)
    if revision is None:  # pragma: no cover - foreign key
        raise NotFound(f"the revision of {project} {version}'s vote is gone")
    is_open = vote.state == "open"
    base = ""  # files and the tally sit beside the page: relative links work behind any proxy
    tally = views.tally_of(vote)
    page = ReleasePage(
        project_key=project,
        project_name=release.project.name,
        version=version,
        keys_url=links.keys(project),
        artifacts=_artifacts(session, revision, base, serve=is_open),
        candidate=True,
        revision=revision.number,
        vote_open=is_open,
        outcome=tally.outcome,
        reason=str((vote.tally or {}).get("reason", "")),
        round=vote.round,
        ends_at_text=views.ends_text(vote.ends_at),
        list_address=vote.list_address,
        tally=tally,
        tally_url=base + "tally.json",
        voters_name="Incubator PMC" if vote.round == "incubator" else "project's PMC",
    )
    return page, vote


def render_template(name: str, **context: object) -> str:
    """Render one of the agent's page templates (``agent/pages/templates``)."""
    return _ENV.get_template(name).render(**context)
