"""What every router and the websocket share: the agent's running state.

:class:`AgentState` is built once per app (in the lifespan) and holds the
settings, the database engines, the blob store and the event bus. Writes go
through :meth:`AgentState.write`, which commits and then wakes the event bus;
reads use :meth:`AgentState.read`, whose SQLite connections never take the
write lock (so the API reads while workers write).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import BlobStore
from agent.config import Settings
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.engine.bus import EventBus
from agent.ratelimit import AddressLimiter
from agent.store import Principal, Store, WriteCollision


def make_read_engine(url: str) -> Engine:
    """An engine for reads only. On SQLite it runs each SELECT in autocommit mode without
    ``BEGIN IMMEDIATE`` (WAL readers are never blocked and never block writers)."""
    if not url.startswith("sqlite"):
        return make_engine(url)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return engine


@contextmanager
def _collisions_are_conflicts() -> Iterator[None]:
    """A unique key broken by a change made at the same moment is a 409, not a 500.

    On PostgreSQL writers run side by side: two requests that both check that a row is
    missing and then add it collide at flush or commit. The transaction was rolled back;
    the client is told to retry (its retry sees the other change).
    """
    try:
        yield
    except IntegrityError as exc:
        raise WriteCollision(
            "the change collided with another change made at the same moment; nothing was written",
            hint="retry the request",
        ) from exc


@dataclass
class AgentState:
    """The running agent's shared parts (one per app)."""

    settings: Settings
    engine: Engine
    read_engine: Engine
    factory: sessionmaker[Session]
    read_factory: sessionmaker[Session]
    blobs: BlobStore
    bus: EventBus
    challenge_limiter: AddressLimiter = field(
        default_factory=lambda: AddressLimiter("login challenges")
    )

    @classmethod
    def open(cls, settings: Settings) -> AgentState:
        """Create the data dir, migrate the database and open the engines and blob store."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.db_url)
        migrate(engine)
        read_engine = make_read_engine(settings.db_url)
        blobs = BlobStore(
            settings.blob_dir,
            max_size=settings.max_upload_bytes,
            tmp_max_bytes=settings.effective_tmp_max_bytes,
        )
        blobs.open_tmp()  # sweeps what killed processes left in DATA_DIR/tmp
        return cls(
            settings=settings,
            engine=engine,
            read_engine=read_engine,
            factory=make_session_factory(engine),
            read_factory=make_session_factory(read_engine),
            blobs=blobs,
            bus=EventBus(read_engine, queue_size=settings.ws_max_pending_events),
        )

    def close(self) -> None:
        """Release the database connections and this process's temporary folder."""
        self.blobs.close()
        self.engine.dispose()
        self.read_engine.dispose()

    @contextmanager
    def write(self, principal: Principal) -> Iterator[Store]:
        """A :class:`Store` for ``principal`` in one transaction; wakes the bus after commit."""
        with _collisions_are_conflicts(), transaction(self.factory) as session:
            yield Store(session, principal)
        self.bus.notify()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A plain write transaction (auth bookkeeping); wakes the bus after commit."""
        with _collisions_are_conflicts(), transaction(self.factory) as session:
            yield session
        self.bus.notify()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads."""
        with self.read_factory() as session:
            yield session


def get_state(request: Request) -> AgentState:
    """The app's :class:`AgentState` (a FastAPI dependency)."""
    state: AgentState = request.app.state.agent
    return state


__all__ = ["AgentState", "get_state", "make_read_engine"]
