"""The release page: one Jinja2 template for the candidate page and the download page.

:func:`candidate_page` builds the page of a release's latest vote from the
database; :func:`render_page` renders any :class:`ReleasePage` — with
``candidate=False`` it is the project's download page (no banner, no tally:
release candidates are never linked from a download page).

Each artifact (a file that is not a signature, checksum or SBOM) is listed with
its size, SHA-512 and signers (each key's fingerprint, and whether it is in KEYS),
and links to its ``.asc``, ``.sha512``/``.sha256`` and SBOM when the revision has
them (:mod:`agent.votes.candidate`). Pages are rendered with HTML escaping on; the
one inline script and style carry a per-response nonce allowed by the page's
Content-Security-Policy, so nothing else runs.

The candidate page keeps the record of the vote after it ends (:func:`serves_files`):
while the vote is open, and after it passed until the release is archived, the files
voted on are served beside the page; the banner says where the release went (the
distribution under way, the download page). A failed or cancelled vote's page, and an
archived release's, list the same artifacts and signers without serving the files.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from agent.store import NotFound, release_row
from agent.votes import views
from agent.votes.candidate import (
    SBOM_SUFFIX,
    Signer,
    candidate_artifacts,
    file_url,
    release_notes_files,
)
from shared.lifecycle import Phase
from shared.protocol.votes import Tally

__all__ = [
    "SBOM_SUFFIX",
    "PageArtifact",
    "ReleasePage",
    "candidate_page",
    "content_security_policy",
    "render_page",
    "sbom_artifact",
    "serves_files",
]

POLL_MS = 15_000
SERVED_AFTER_A_PASSED_VOTE = frozenset({Phase.PASSED, Phase.DISTRIBUTE, Phase.ANNOUNCED})
"""After its vote passed, a release's candidate page serves the files voted on until the
release is archived (or its distribution failed)."""

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
    signed: bool = False
    """Whether the revision has its ``.asc`` (served or not)."""
    checksum_name: str | None = None
    signers: tuple[Signer, ...] = ()

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
    phase: str = ""
    """The release's phase (where it went after the vote)."""
    serving: bool = False
    """Whether the files voted on are served beside the page."""
    download_url: str = ""
    decided_text: str = ""
    staged: tuple[tuple[str, str, str], ...] = ()
    """The test channels the candidate was staged to: (name, kind, URL)."""
    notes: tuple[tuple[str, str | None], ...] = ()
    """The release notes (CHANGES, RELEASE-NOTES…) of the revision: name, link while served."""
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


def serves_files(vote: models.Vote, release: models.Release) -> bool:
    """Whether the candidate page serves the files of ``vote`` (see the module docstring)."""
    if vote.state == "open":
        return True
    return vote.state == "passed" and release.phase in SERVED_AFTER_A_PASSED_VOTE


def _artifacts(
    session: Session, revision: models.Revision, base: str, *, serve: bool
) -> list[PageArtifact]:
    def link(path: str | None) -> str | None:
        return file_url(base, path) if serve and path is not None else None

    out = []
    for a in candidate_artifacts(session, revision):
        checksum = a.checksum
        out.append(
            PageArtifact(
                name=a.path,
                size=a.size,
                sha512=a.sha512,
                url=link(a.path),
                asc_url=link(a.signature),
                sha512_url=link(checksum) if checksum and checksum.endswith(".sha512") else None,
                sha256_url=link(checksum) if checksum and checksum.endswith(".sha256") else None,
                sbom_url=link(a.path + SBOM_SUFFIX) if a.sbom else None,
                signed=a.signature is not None,
                checksum_name=checksum.rsplit("/", 1)[-1] if checksum else None,
                signers=a.signers,
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
    serve = serves_files(vote, release)
    base = ""  # files and the tally sit beside the page: relative links work behind any proxy
    tally = views.tally_of(vote)
    page = ReleasePage(
        project_key=project,
        project_name=release.project.name,
        version=version,
        keys_url=links.keys(project),
        artifacts=_artifacts(session, revision, base, serve=serve),
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
        phase=release.phase,
        serving=serve,
        download_url=links.downloads(project),
        decided_text=views.ends_text(vote.decided_at) if vote.decided_at else "",
        notes=tuple(
            (path, file_url(base, path) if serve else None)
            for path in release_notes_files(revision)
        ),
        staged=_staged(session, release, revision) if serve else (),
    )
    return page, vote


def _staged(
    session: Session, release: models.Release, revision: models.Revision
) -> tuple[tuple[str, str, str], ...]:
    """Where the revision under vote was staged (a staging distribution that finished)."""
    row = session.scalars(
        select(models.Distribution)
        .where(
            models.Distribution.release_id == release.id,
            models.Distribution.kind == "staging",
            models.Distribution.revision_id == revision.id,
            models.Distribution.state == "verified",
        )
        .order_by(models.Distribution.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return ()
    return tuple(
        (str(c["name"]), str(c["kind"]), str(c.get("target", "")))
        for c in row.plan.get("channels", [])
    )


def render_template(name: str, **context: object) -> str:
    """Render one of the agent's page templates (``agent/pages/templates``)."""
    return _ENV.get_template(name).render(**context)
