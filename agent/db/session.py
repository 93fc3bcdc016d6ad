"""Engine and session setup for SQLite (WAL) and PostgreSQL, and migrations at start.

A database already at :data:`HEAD_REVISION` is opened without loading Alembic (its
import and Mako's cost the agent process about 11 MB for good); ``python -m
agent.db.session`` migrates the database whose URL it reads on stdin, which is how
``atr-agent serve`` migrates beside its own start (see :func:`start_migration`).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HEAD_REVISION = "0007"
"""The newest migration's revision; a test checks that it is Alembic's head."""


def sqlite_url(data_dir: Path) -> str:
    """The embedded default database inside the data dir."""
    return f"sqlite:///{data_dir / 'agent.db'}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``. SQLite gets WAL, a busy timeout and foreign keys on."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Leave transaction control to SQLAlchemy's BEGIN (see _sqlite_begin).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock at the start, so two writers never deadlock
            # upgrading read locks; readers in WAL mode are never blocked.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with factory() as session, session.begin():
        yield session


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision; None for a database never migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if version is None else str(version)


def migrate(engine: Engine) -> None:
    """Apply Alembic migrations up to head on ``engine``'s database (nothing to do, and
    Alembic not loaded, when it is at :data:`HEAD_REVISION` already)."""
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command  # noqa: PLC0415 - only the agent's start migrates: not workers
    from alembic.config import Config  # noqa: PLC0415

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def start_migration(url: str) -> subprocess.Popen[str] | None:
    """Start migrating the database at ``url`` in a child process (``python -m
    agent.db.session``), or None when it is at :data:`HEAD_REVISION` already.

    The agent's start imports its web stack meanwhile, on the other core, and never loads
    Alembic itself. The URL (which may hold a password) goes through stdin, not argv.
    """
    engine = make_engine(url)
    try:
        if current_revision(engine) == HEAD_REVISION:
            return None
    finally:
        engine.dispose()
    child = subprocess.Popen(
        [sys.executable, "-m", "agent.db.session"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if child.stdin is not None:  # always: stdin=PIPE
        child.stdin.write(url)
        child.stdin.close()
    return child


def finish_migration(child: subprocess.Popen[str] | None) -> None:
    """Wait for :func:`start_migration`'s child; :class:`MigrationFailed` with its words."""
    if child is None:
        return
    err = ""
    if child.stderr is not None:
        with child.stderr:
            err = child.stderr.read()  # to its end: the child writes nothing else, no deadlock
    if child.wait() != 0:
        raise MigrationFailed(err.strip() or f"the migration ended with code {child.returncode}")


class MigrationFailed(RuntimeError):
    """The database could not be migrated; the message is the migration's own error."""


def migrate_url(url: str) -> None:
    """:func:`migrate` the database at ``url``; :class:`MigrationFailed` naming it and the
    database's own error."""
    engine = make_engine(url)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        raise MigrationFailed(f"cannot prepare the database {engine.url!r}: {exc}") from exc
    finally:
        engine.dispose()


def _main() -> int:
    try:
        migrate_url(sys.stdin.read().strip())
    except MigrationFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
