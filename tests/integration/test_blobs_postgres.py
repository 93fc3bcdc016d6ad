"""Two uploads of the same file at once, on PostgreSQL: both succeed, the blob row is one.

The second transaction's insert waits on the first one's uncommitted row; when the
first commits, ``ON CONFLICT DO NOTHING`` makes it a no-op instead of a key error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from agent import store
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

BLOB = {"sha256": "c" * 64, "sha512": "d" * 128, "size": 5}


@pytest.fixture
def factory(postgres_server: PostgresServer) -> Iterator[sessionmaker[Session]]:
    url = postgres_server.create_database()
    engine = make_engine(url)
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _waiting_on_a_lock(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def test_the_same_blob_recorded_by_two_transactions_at_once(
    factory: sessionmaker[Session],
) -> None:
    second: dict[str, object] = {}

    def record_in_second_transaction() -> None:
        try:
            with transaction(factory) as session:
                second["added"] = store.add_blob_row(session, **BLOB)
        except Exception as exc:  # reported by the assertion below
            second["error"] = exc

    with transaction(factory) as session:
        assert store.add_blob_row(session, **BLOB) is True
        thread = threading.Thread(target=record_in_second_transaction)
        thread.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(factory):  # the second insert waits for this commit
            assert thread.is_alive(), second
            assert time.monotonic() < deadline, "the second transaction never waited"
            time.sleep(0.05)
    thread.join(30)
    assert second == {"added": False}
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(models.Blob)) == 1
