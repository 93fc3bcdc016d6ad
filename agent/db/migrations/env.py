"""Alembic environment: runs on the connection that :func:`agent.db.session.migrate` passes."""

from __future__ import annotations

from alembic import context

from agent.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through 'atr-agent migrate' (agent.db.session.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
