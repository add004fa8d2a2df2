"""Alembic environment for the projection tables.

Run programmatically by :func:`projections.db.migrate` (which passes an open connection in
``config.attributes["connection"]``), or from the command line: ``alembic -c projections/alembic.ini upgrade head``
with ``-x url=...`` or ``MENTORFLOW_DATABASE__URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, pool

from projections.db import make_engine
from projections.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("MENTORFLOW_DATABASE__URL")
        or "sqlite:///.run/mentorflow.db"
    )


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
