"""``runner.settle`` while another channel's task is between publishing and verifying.

Two channels' tasks run side by side. A step that is ``done`` but not yet verified belongs
to a task that still runs (a failed verification marks the step ``failed``), so the first
task to finish must leave the distribution running, not settle it ``failed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from agent.config import Settings
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.distribute.runner import settle
from agent.store import Principal, Store
from shared.protocol import CommitteeCreate, ProjectCreate


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    migrate(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        admin = Store(session, Principal.operator()).as_admin()
        admin.create_committee(CommitteeCreate(name="acme"))
        admin.create_project(ProjectCreate(key="acme-lib", committee="acme"))
    try:
        yield factory
    finally:
        engine.dispose()


def _staging(factory: sessionmaker[Session]) -> int:
    """A running staging of two channels: the registry's step done and verified, the dist
    repository's done (published) but not verified yet. (The vote has begun meanwhile, so
    settling it does not move the release: that needs its checks, not the subject here.)"""
    now = datetime.now(UTC)
    with transaction(factory) as session:
        project = session.query(models.Project).filter_by(key="acme-lib").one()
        release = models.Release(
            project_id=project.id, version="1.0.0", phase="vote", created_by="bob"
        )
        session.add(release)
        session.flush()
        revision = models.Revision(release_id=release.id, number=1, created_by="bob")
        session.add(revision)
        session.flush()
        row = models.Distribution(
            release_id=release.id, revision_id=revision.id, kind="staging", rc=1, plan={},
            digest="sha256:x", state="running", created_by="bob", started_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        for position, (channel, verified) in enumerate((("docker", True), ("dist", False))):
            session.add(
                models.DistributionStep(
                    distribution_id=row.id, channel=channel, kind=channel, position=position,
                    path="a.oci.tar", state="done", uploaded=True,
                    verified_at=now if verified else None,
                )
            )  # fmt: skip
        return row.id


def test_a_step_published_but_not_verified_keeps_the_distribution_running(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    distribution = _staging(factory)
    assert settle(factory, settings, distribution) == "running"  # the docker task's settle
    with transaction(factory) as session:
        step = session.query(models.DistributionStep).filter_by(channel="dist").one()
        step.verified_at = datetime.now(UTC)
    assert settle(factory, settings, distribution) == "verified"  # the dist task's settle
    with factory() as session:
        row = session.get(models.Distribution, distribution)
        assert row is not None and row.state == "verified" and row.verified_at is not None
        settled = session.query(models.Event).filter_by(kind="distribution.settled").all()
        assert [e.data["state"] for e in settled] == ["verified"]
