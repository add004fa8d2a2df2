"""Alembic environment of the audit store's own tables (the workflow-history archive).

Its own version table (``alembic_version_audit``) and metadata, next to the projection tables in the same database:
the archive is not a projection (it cannot be rebuilt from Kafka), so a projection rebuild never touches it.
Run by :func:`audit.archive.migrate`.
"""

from __future__ import annotations

from alembic import context

from audit.archive import VERSION_TABLE, metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
