"""Per-project release statistics, computed from the event log (and imported history).

For each release: the first upload (its first ``revision.created``), the vote's start
(``vote.started``) and decision (``vote.decided``), ``passed`` (``release.phase_changed``
to passed) and the announcement (``release.announced``); from them the hours from first
upload to vote, of the vote, and from passed to announced. Check failures count the
``check.finished`` events whose worst result is a blocker or whose run failed, by check.
Releases per year count announcements, and imported releases by their date in the dist
repository. Medians are over the releases that have the span.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from agent.store import project_row
from shared.lifecycle import Phase
from shared.protocol import EventKind
from shared.protocol.triggers import ReleaseStat, ReleaseStats

__all__ = ["release_stats"]

_KINDS = (
    EventKind.REVISION_CREATED,
    EventKind.VOTE_STARTED,
    EventKind.VOTE_DECIDED,
    EventKind.PHASE_CHANGED,
    EventKind.RELEASE_ANNOUNCED,
    EventKind.CHECK_FINISHED,
)


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return round((end - start).total_seconds() / 3600, 6)  # to the second and below


def _every_year(per_year: Counter[str]) -> dict[str, int]:
    """Releases per year from the first to the last, a year without any included (as 0):
    a chart of them shows the gap rather than closing it."""
    if not per_year:
        return {}
    years = [int(y) for y in per_year]
    return {str(y): per_year.get(str(y), 0) for y in range(min(years), max(years) + 1)}


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(median(present), 6) if present else None


def _mark(mark: dict[str, datetime], kind: EventKind, at: datetime, data: dict[str, Any]) -> None:
    if kind is EventKind.REVISION_CREATED:
        mark.setdefault("first_upload", at)
    elif kind is EventKind.VOTE_STARTED:
        mark.setdefault("vote_started", at)
    elif kind is EventKind.VOTE_DECIDED:
        mark["vote_decided"] = at
    elif kind is EventKind.PHASE_CHANGED and data.get("to") == Phase.PASSED.value:
        mark["passed"] = at
    elif kind is EventKind.RELEASE_ANNOUNCED:
        mark.setdefault("announced", at)


def _read_events(
    session: Session, key: str, versions: set[str]
) -> tuple[dict[str, dict[str, datetime]], Counter[str], Counter[str], int]:
    """Each release's moments, check failures (by check, by release), events read."""
    marks: dict[str, dict[str, datetime]] = {v: {} for v in versions}
    failures: Counter[str] = Counter()
    per_release: Counter[str] = Counter()
    read = 0
    rows = session.execute(
        select(models.Event.kind, models.Event.version, models.Event.at, models.Event.data)
        .where(models.Event.project == key, models.Event.kind.in_([k.value for k in _KINDS]))
        .order_by(models.Event.id)
    )
    for kind, version, at, data in rows:
        read += 1
        if version not in marks:
            continue
        if kind == EventKind.CHECK_FINISHED.value:
            if data.get("worst") == "blocker" or data.get("state") == "error":
                failures[str(data.get("check"))] += 1
                per_release[version] += 1
            continue
        _mark(marks[version], EventKind(kind), at, data)
    return marks, failures, per_release, read


def release_stats(session: Session, key: str) -> ReleaseStats:
    project = project_row(session, key)
    releases = {
        r.version: r
        for r in session.scalars(
            select(models.Release).where(models.Release.project_id == project.id)
        )
    }
    imported = {
        row.release_id: row
        for row in session.scalars(
            select(models.ImportedReleaseRow)
            .join(models.Release)
            .where(models.Release.project_id == project.id)
        )
    }
    marks, failures, per_release_failures, read = _read_events(session, key, set(releases))
    out: list[ReleaseStat] = []
    per_year: Counter[str] = Counter()
    for version, release in releases.items():
        mark = marks[version]
        row = imported.get(release.id)
        announced = mark.get("announced")
        if row is not None and row.area == "release":
            announced = announced or row.released_at
        if announced is not None:
            per_year[str(announced.year)] += 1
        out.append(
            ReleaseStat(
                version=version,
                phase=Phase(release.phase),
                first_upload=mark.get("first_upload"),
                vote_started=mark.get("vote_started"),
                vote_decided=mark.get("vote_decided"),
                passed=mark.get("passed"),
                announced=announced,
                upload_to_vote_hours=_hours(mark.get("first_upload"), mark.get("vote_started")),
                vote_hours=_hours(mark.get("vote_started"), mark.get("vote_decided")),
                passed_to_announced_hours=_hours(mark.get("passed"), mark.get("announced")),
                check_failures=per_release_failures[version],
                imported=row is not None,
            )
        )
    out.sort(key=lambda s: s.announced or s.first_upload or release_created(releases, s.version))
    return ReleaseStats(
        project=key,
        releases=out,
        check_failures=dict(failures.most_common()),
        per_year=_every_year(per_year),
        median_upload_to_vote_hours=_median([s.upload_to_vote_hours for s in out]),
        median_vote_hours=_median([s.vote_hours for s in out]),
        median_passed_to_announced_hours=_median([s.passed_to_announced_hours for s in out]),
        events_read=read,
    )


def release_created(releases: dict[str, models.Release], version: str) -> datetime:
    return releases[version].created_at
