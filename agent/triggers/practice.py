"""A project's release practice: what a new release manager (or an auditor) needs to see.

Read from what the agent holds — the trigger settings and trusted publishers, the check
policy, the distribution settings (channels, manual steps, announce list), the vote
settings — and from its releases: who managed them (imported releases: who signed them),
and what each release in progress waits for. Served as ``GET
/api/v1/projects/{key}/practice`` and as the hosted page ``/projects/{key}/``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.pages.page import render_template
from agent.store import project_row
from agent.triggers.common import is_system_actor, read_settings
from agent.triggers.nextsteps import release_next
from agent.triggers.publishers import list_publishers
from shared.lifecycle import Phase
from shared.protocol.distribute import DistributionSettings
from shared.protocol.triggers import PracticeChannel, PracticeManager, ReleasePractice

__all__ = ["release_practice", "render_practice"]

_IN_PROGRESS = frozenset(p.value for p in Phase) - {
    Phase.ANNOUNCED.value,
    Phase.ARCHIVED.value,
    Phase.FAILED.value,
}


def _managers(session: Session, project: models.Project) -> list[PracticeManager]:
    found: dict[str, tuple[int, str, datetime | None]] = {}

    def note(name: str, version: str, at: datetime | None) -> None:
        count, last, when = found.get(name, (0, "", None))
        if when is None or (at is not None and at >= when):
            last, when = version, at
        found[name] = (count + 1, last, when)

    imported = {
        row.release_id: row
        for row in session.scalars(
            select(models.ImportedReleaseRow)
            .join(models.Release)
            .where(models.Release.project_id == project.id)
        )
    }
    for release in session.scalars(
        select(models.Release).where(models.Release.project_id == project.id)
    ):
        row = imported.get(release.id)
        if row is not None:
            signers = sorted(
                {
                    str(f["signer"])
                    for f in row.files
                    if f.get("signer") and f["signature"] == "good"
                }
            )
            for signer in signers[:1]:
                note(signer, release.version, row.released_at)
        elif not is_system_actor(release.created_by):
            note(release.created_by, release.version, release.created_at)
    return [
        PracticeManager(name=name, releases=count, last_version=last, last_at=when)
        for name, (count, last, when) in sorted(
            found.items(), key=lambda item: (-item[1][0], item[0])
        )
    ]


def release_practice(session: Session, key: str) -> ReleasePractice:
    project = project_row(session, key)
    trigger = read_settings(session, key)
    rules = list_publishers(session, key)
    dist = DistributionSettings.model_validate(project.distribution or {})
    podling = project.committee.podling
    vote_list = project.dev_list or f"dev@{key}.apache.org"
    triggers: list[str] = []
    for rule in rules:
        triggers.append(
            f"GitHub Actions: {rule.repository} .github/workflows/{rule.workflow} on "
            f"{', '.join(rule.refs)}"
            + (f" (environment {rule.environment})" if rule.environment else "")
        )
    if trigger.webhook_secret_set:
        triggers.append(
            f"a pushed tag matching '{trigger.tag_pattern}' in "
            f"{trigger.git_url or 'the repository'} (webhook): the agent builds the source archive"
        )
    if trigger.watch_dist:
        triggers.append(f"a release.toml committed to dist/dev/{key}/")
    triggers.append("an upload from the desktop or 'atr upload'")
    staged = [c.name for c in dist.channels if c.staging_url]
    steps = [
        "Build the candidate: " + "; or ".join(triggers),
        "Sign every artifact on the release manager's own machine (.asc), with a .sha512",
        "The agent's checks (signatures, checksums, LICENSE/NOTICE, headers, licenses, SBOM); "
        "a blocker stops the candidate",
    ]
    if staged:
        steps.append(f"Stage the candidate to test channels: {', '.join(staged)}")
    binding = "the PMC" + (", then the Incubator PMC on general@incubator" if podling else "")
    steps.append(
        f"Vote on {vote_list} for at least {project.vote_min_hours} hours: at least three "
        f"binding +1 ({binding}) and more binding +1 than -1"
    )
    steps.append(
        "Sign the distribution plan; the agent publishes to dist/release"
        + (f" and {', '.join(c.name for c in dist.channels)}" if dist.channels else "")
    )
    steps += [f"Manual: {text}" for text in dist.manual_steps]
    steps.append("Announce to " + ", ".join(dist.announce_to or ["announce@apache.org", vote_list]))
    releases = list(
        session.scalars(select(models.Release).where(models.Release.project_id == project.id))
    )
    imported_count = (
        session.scalar(
            select(func.count())
            .select_from(models.ImportedReleaseRow)
            .join(models.Release)
            .where(models.Release.project_id == project.id)
        )
        or 0
    )
    return ReleasePractice(
        project=key,
        name=project.name,
        committee=project.committee.display_name,
        podling=podling,
        steps=steps,
        channels=[PracticeChannel(name="dist", kind="svn", target=f"dist/release/{key}")]
        + [PracticeChannel(name=c.name, kind=str(c.kind), target=c.url) for c in dist.channels],
        vote_min_hours=project.vote_min_hours,
        vote_list=vote_list,
        binding_voters=binding,
        release_managers=_managers(session, project),
        manual_steps=list(dist.manual_steps),
        triggers=triggers,
        releases=len(releases),
        imported=imported_count,
        in_progress=[
            release_next(session, key, r.version)
            for r in sorted(releases, key=lambda r: r.updated_at, reverse=True)
            if r.phase in _IN_PROGRESS
        ],
    )


def render_practice(session: Session, settings: Settings, key: str, *, nonce: str) -> str:
    """The hosted project page."""
    found = release_practice(session, key)
    base = settings.effective_public_url
    return render_template(
        "practice.html.j2",
        practice=found,
        project_name=found.name,
        downloads_url=f"{base}/projects/{key}/downloads/",
        keys_url=f"{base}/projects/{key}/KEYS",
        nonce=nonce,
    )
