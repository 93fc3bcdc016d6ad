"""A KEYS import and a revocation run GnuPG outside the write transaction, and stay right when
keys change meanwhile: real SQLite, real GnuPG.

Every GnuPG run goes through ``shared.openpgp.gnupg._run``; the tests wrap it with a probe
that tries to take SQLite's write lock from a connection of its own, without waiting: it
fails exactly when some transaction holds the lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import text

from agent.api.deps import make_read_engine
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.keys import ProjectKeys, import_keys_file, list_project_keys, revoke_key
from agent.keys.material import read_key
from agent.store import Principal, Store
from shared.errors import ValidationError
from shared.openpgp import gnupg
from shared.protocol import CommitteeCreate, EventKind, ProjectCreate
from shared.protocol.keys import KeysImport, Revocation
from tests.support.keymaker import KeyMaker, MadeKey, key_maker

__all__ = ["key_maker"]  # session fixture

pytestmark = pytest.mark.integration

PROJECT = "acme-lib"
OPERATOR = Principal.operator()


def _no_blobs(sha256: str) -> Path:
    raise AssertionError(f"no blob is read in these tests ({sha256})")


@dataclass
class Db:
    path: Path
    factory: sessionmaker[Session]
    read_factory: sessionmaker[Session]

    def read(self) -> AbstractContextManager[Session]:
        return self.read_factory()

    def write(self) -> AbstractContextManager[Session]:
        return transaction(self.factory)

    def import_file(self, keys_file: str) -> Any:
        return import_keys_file(
            PROJECT,
            KeysImport(keys_file=keys_file),
            principal=OPERATOR,
            read=self.read,
            write=self.write,
            blob_path=_no_blobs,
        )

    def write_lock_free(self) -> bool:
        """Whether no transaction holds the write lock (asked without waiting)."""
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return False
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
        return True


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    path = tmp_path / "agent.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    reader = make_read_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        admin = Store(session, OPERATOR).as_admin()
        admin.create_committee(CommitteeCreate(name="acme"))
        admin.create_project(ProjectCreate(key=PROJECT, committee="acme"))
    yield Db(path, factory, make_session_factory(reader))
    engine.dispose()
    reader.dispose()


@dataclass
class GpgProbe:
    """Wraps every GnuPG run: records whether the write lock was free, and runs ``before``
    (once) ahead of the first run."""

    db: Db
    real: Callable[..., bytes]
    runs: list[tuple[str, bool]] = field(default_factory=list)
    before: Callable[[], None] | None = None
    paused: bool = False

    def __call__(self, args: list[str], *, what: str, stdin: bytes | None = None) -> bytes:
        if not self.paused:
            self.runs.append((what, self.db.write_lock_free()))
            if self.before is not None:
                hook, self.before = self.before, None
                self.paused = True
                try:
                    hook()
                finally:
                    self.paused = False
        return self.real(args, what=what, stdin=stdin)

    @property
    def under_lock(self) -> list[str]:
        return [what for what, free in self.runs if not free]


@pytest.fixture
def probe(db: Db, monkeypatch: pytest.MonkeyPatch) -> GpgProbe:
    probe = GpgProbe(db, gnupg._run)
    monkeypatch.setattr(gnupg, "_run", probe)
    return probe


def keys_file(*keys: MadeKey) -> str:
    return "This file contains the PGP keys of the release managers.\n\n" + "\n".join(
        k.public for k in keys
    )


def count_rows(db: Db, fingerprint: str) -> int:
    with db.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(models.ProjectKey)
                .where(models.ProjectKey.fingerprint == fingerprint)
            )
            or 0
        )


def test_the_probe_sees_an_open_write_transaction(db: Db) -> None:
    assert db.write_lock_free()
    with db.write() as session:
        session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE has run
        assert not db.write_lock_free()
    assert db.write_lock_free()


def test_gnupg_runs_before_the_write_transaction(
    db: Db, probe: GpgProbe, key_maker: KeyMaker
) -> None:
    old = key_maker.make(key_maker.unique("Old Key", "old@example.org"))
    new = [key_maker.make(key_maker.unique(f"New {i}", "new@example.org")) for i in range(3)]
    db.import_file(keys_file(old))  # stored: merged again by the next import
    probe.runs.clear()
    result = db.import_file(keys_file(old, *new))
    assert result.imported == [k.fingerprint for k in (old, *new)]
    assert probe.runs, "GnuPG did not run"
    assert probe.under_lock == []
    with db.read() as session:
        stored = {k.fingerprint for k in list_project_keys(session, PROJECT)}
    assert stored == {k.fingerprint for k in (old, *new)}


def test_a_key_revoked_during_the_import_keeps_its_revocation(
    db: Db, probe: GpgProbe, key_maker: KeyMaker
) -> None:
    kept = key_maker.make(key_maker.unique("Kept Key", "kept@example.org"))
    other = key_maker.make(key_maker.unique("Other Key", "other@example.org"))
    db.import_file(keys_file(kept))
    certificate = key_maker.revocation_certificate(kept)

    def revoke_meanwhile() -> None:  # another request, while the import's GnuPG runs
        with db.write() as session:
            keys = ProjectKeys(session, OPERATOR, blob_path=_no_blobs)
            keys.writer(PROJECT).revoke(Revocation(armored=certificate, reason="lost"))

    probe.before = revoke_meanwhile
    probe.runs.clear()
    result = db.import_file(keys_file(kept, other))  # the file has the key unrevoked
    assert result.imported == [kept.fingerprint, other.fingerprint]
    assert probe.under_lock == []
    with db.read() as session:
        row = session.scalars(
            select(models.ProjectKey).where(models.ProjectKey.fingerprint == kept.fingerprint)
        ).one()
        imports = session.scalars(
            select(models.Event).where(models.Event.kind == EventKind.KEYS_IMPORTED.value)
        ).all()
    # Stored as revoked, and its stored copy still carries the revocation signature.
    assert row.revoked_at is not None and row.revocation_reason == "lost"
    assert read_key(row.armored).revoked
    assert count_rows(db, kept.fingerprint) == 1 and count_rows(db, other.fingerprint) == 1
    # The first import and the second's one write: the stale attempt wrote nothing.
    assert len(imports) == 2
    assert imports[-1].data["unchanged"] == 1 and imports[-1].data["added"] == [other.fingerprint]


def test_a_key_added_during_the_import_is_not_added_twice(
    db: Db, probe: GpgProbe, key_maker: KeyMaker
) -> None:
    first = key_maker.make(key_maker.unique("First Key", "first@example.org"))
    second = key_maker.make(key_maker.unique("Second Key", "second@example.org"))
    probe.before = lambda: db.import_file(keys_file(first))  # a concurrent import
    result = db.import_file(keys_file(first, second))
    assert result.imported == [first.fingerprint, second.fingerprint]
    assert probe.under_lock == []
    assert count_rows(db, first.fingerprint) == 1 and count_rows(db, second.fingerprint) == 1
    with db.read() as session:
        last = session.scalars(
            select(models.Event)
            .where(models.Event.kind == EventKind.KEYS_IMPORTED.value)
            .order_by(models.Event.id.desc())
        ).first()
    assert last is not None
    assert last.data["added"] == [second.fingerprint] and last.data["unchanged"] == 1


def revoke(db: Db, certificate: str, reason: str = "lost") -> Any:
    return revoke_key(
        PROJECT,
        Revocation(armored=certificate, reason=reason),
        principal=OPERATOR,
        read=db.read,
        write=db.write,
        blob_path=_no_blobs,
    )


def test_a_revocation_runs_gnupg_before_the_write_transaction(
    db: Db, probe: GpgProbe, key_maker: KeyMaker
) -> None:
    key = key_maker.make(key_maker.unique("Gone Key", "gone@example.org"))
    db.import_file(keys_file(key))
    probe.runs.clear()
    answer = revoke(db, key_maker.revocation_certificate(key))
    assert answer.key.state == "revoked" and answer.key.revocation_reason == "lost"
    assert probe.runs, "GnuPG did not run"
    assert probe.under_lock == []


def test_a_key_revoked_meanwhile_is_read_again_and_refused(
    db: Db, probe: GpgProbe, key_maker: KeyMaker
) -> None:
    key = key_maker.make(key_maker.unique("Twice Key", "twice@example.org"))
    db.import_file(keys_file(key))
    certificate = key_maker.revocation_certificate(key)
    probe.before = lambda: revoke(db, certificate, reason="first")  # a concurrent request
    with pytest.raises(ValidationError, match="revoke"):
        revoke(db, certificate, reason="second")
    with db.read() as session:
        row = session.scalars(
            select(models.ProjectKey).where(models.ProjectKey.fingerprint == key.fingerprint)
        ).one()
        revoked_events = session.scalars(
            select(models.Event).where(models.Event.kind == EventKind.KEY_REVOKED.value)
        ).all()
    assert row.revocation_reason == "first" and len(revoked_events) == 1
