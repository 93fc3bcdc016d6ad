"""Release statistics and next steps from an event log written on a real SQLite database,
with the times of the events set: the spans, the medians, check failures, years."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.engine.events import append_event
from agent.store import Principal, Store
from agent.triggers.metrics import Metrics
from agent.triggers.nextsteps import release_next
from agent.triggers.stats import _every_year, release_stats
from shared.protocol import CommitteeCreate, EventKind, ProjectCreate, ReleaseCreate

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    migrate(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        admin = Store(session, Principal.operator()).as_admin()
        admin.create_committee(CommitteeCreate(name="acme"))
        admin.create_project(ProjectCreate(key="acme-lib", committee="acme"))
        writer = Store(session, Principal.operator()).as_committer("acme-lib")
        for version in ("1.0.0", "1.1.0", "2.0.0"):
            writer.create_release(ReleaseCreate(version=version))
    yield factory
    engine.dispose()


def _event(session: Session, what: EventKind, version: str, at: datetime, **data: object) -> None:
    row = append_event(session, what, project="acme-lib", version=version, data=dict(data))
    row.at = at


def test_spans_medians_failures_and_years(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        for version, start, upload_h, vote_h, announce_h in (
            ("1.0.0", T0, 2, 72, 3),
            ("1.1.0", T0 + timedelta(days=300), 6, 80, 5),
        ):
            _event(session, EventKind.REVISION_CREATED, version, start)
            _event(session, EventKind.REVISION_CREATED, version, start + timedelta(hours=1))
            voted = start + timedelta(hours=upload_h)
            _event(session, EventKind.VOTE_STARTED, version, voted)
            decided = voted + timedelta(hours=vote_h)
            _event(session, EventKind.VOTE_DECIDED, version, decided, outcome="passed")
            _event(session, EventKind.PHASE_CHANGED, version, decided, to="passed")
            _event(
                session, EventKind.RELEASE_ANNOUNCED, version, decided + timedelta(hours=announce_h)
            )
        _event(
            session, EventKind.CHECK_FINISHED, "2.0.0", T0, check="license_notice", worst="blocker"
        )
        _event(session, EventKind.CHECK_FINISHED, "2.0.0", T0, check="signatures", state="error")
        _event(session, EventKind.CHECK_FINISHED, "2.0.0", T0, check="paths", worst="warning")
        _event(
            session, EventKind.CHECK_FINISHED, "1.0.0", T0, check="license_notice", worst="blocker"
        )
    with factory() as session:
        stats = release_stats(session, "acme-lib")
    by = {s.version: s for s in stats.releases}
    assert (by["1.0.0"].upload_to_vote_hours, by["1.0.0"].vote_hours) == (2, 72)
    assert by["1.0.0"].passed_to_announced_hours == 3
    assert (by["1.1.0"].upload_to_vote_hours, by["1.1.0"].vote_hours) == (6, 80)
    assert stats.median_upload_to_vote_hours == 4 and stats.median_vote_hours == 76
    assert stats.median_passed_to_announced_hours == 4
    assert stats.check_failures == {"license_notice": 2, "signatures": 1}
    assert (by["2.0.0"].check_failures, by["1.0.0"].check_failures) == (2, 1)
    assert stats.per_year == {"2025": 2}
    assert by["2.0.0"].upload_to_vote_hours is None and by["2.0.0"].announced is None


def test_next_steps_of_a_new_release(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        found = release_next(session, "acme-lib", "1.0.0")
    (step,) = found.steps
    assert step.kind == "upload" and step.command == "atr upload acme-lib 1.0.0 FILES…"
    assert found.release_manager == ""  # made by the operator, and none is configured


def test_metrics_count_the_event_log(factory: sessionmaker[Session]) -> None:
    metrics = Metrics(factory)
    metrics.start_at_current()
    with transaction(factory) as session:
        _event(session, EventKind.VOTE_STARTED, "1.0.0", T0)
        _event(session, EventKind.MAIL_SENT, "1.0.0", T0, kind="vote", seconds_queued=1.5)
        _event(session, EventKind.MAIL_FAILED, "1.0.0", T0, kind="vote", final=True)
        _event(session, EventKind.DISTRIBUTION_STEP, "1.0.0", T0, channel="pypi", state="failed")
    assert metrics.catch_up() == 4
    assert metrics.catch_up() == 0  # each event once
    value = metrics.registry.get_sample_value
    assert value("atr_votes_started_total") == 1
    assert value("atr_mail_total", {"kind": "vote", "outcome": "sent"}) == 1
    assert value("atr_mail_total", {"kind": "vote", "outcome": "gave_up"}) == 1
    assert value("atr_distribution_failures_total", {"channel": "pypi"}) == 1
    assert value("atr_events_total", {"kind": "vote.started"}) == 1
    assert value("atr_mail_queued_seconds_sum") == 1.5
    assert value("atr_queue_tasks", {"type": "check", "state": "queued"}) is None


def test_a_year_without_releases_is_counted_as_none() -> None:
    assert _every_year(Counter({"2021": 2, "2024": 1})) == {
        "2021": 2,
        "2022": 0,
        "2023": 0,
        "2024": 1,
    }
    assert _every_year(Counter()) == {}
