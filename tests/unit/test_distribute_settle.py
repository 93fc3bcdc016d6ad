"""When a distribution is settled: not while a channel's published files await verification.

Each channel runs in its own task, and each task settles the distribution when it ends. A
channel that failed fast must not close the distribution while another channel's files
are published but not yet downloaded back: that would call a distribution ``failed``
(unverified) whose every file ends up verified a moment later.
"""

from __future__ import annotations

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
def factory(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    migrate(engine)
    made = make_session_factory(engine)
    with transaction(made) as session:
        admin = Store(session, Principal.operator()).as_admin()
        admin.create_committee(CommitteeCreate(name="acme"))
        admin.create_project(ProjectCreate(key="acme-lib", committee="acme"))
    return made


def _distribution(factory: sessionmaker[Session], steps: list[tuple[str, str, bool]]) -> int:
    """A running staging distribution with ``(channel, state, verified)`` steps."""
    now = datetime.now(UTC)
    with transaction(factory) as session:
        project = session.query(models.Project).filter_by(key="acme-lib").one()
        release = models.Release(project_id=project.id, version="1.0.0", phase="staged",
                                 created_by="bob")  # fmt: skip
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
        for position, (channel, state, verified) in enumerate(steps):
            session.add(
                models.DistributionStep(
                    distribution_id=row.id, channel=channel, kind="pypi", position=position,
                    path=f"file-{position}", state=state, updated_at=now,
                    verified_at=now if verified else None,
                )
            )  # fmt: skip
        return row.id


def _verify_all(factory: sessionmaker[Session], distribution_id: int) -> None:
    with transaction(factory) as session:
        row = session.get(models.Distribution, distribution_id)
        assert row is not None
        for step in row.steps:
            if step.state == "done":
                step.verified_at = datetime.now(UTC)


def test_a_published_file_awaiting_verification_keeps_the_distribution_open(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    ident = _distribution(factory, [("dist", "done", True), ("pypi", "done", False)])
    assert settle(factory, settings, ident) == "running"  # pypi's task is verifying
    _verify_all(factory, ident)
    assert settle(factory, settings, ident) == "verified"


def test_a_failed_channel_waits_for_the_others_verification(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    ident = _distribution(factory, [("npm", "failed", False), ("pypi", "done", False)])
    assert settle(factory, settings, ident) == "running"
    _verify_all(factory, ident)
    assert settle(factory, settings, ident) == "failed"
    with factory() as session:
        row = session.get(models.Distribution, ident)
        assert row is not None and row.finished_at is not None
