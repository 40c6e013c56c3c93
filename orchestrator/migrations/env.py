"""Alembic environment: always run by orchestrator.db.upgrade_schema on a given connection."""

from alembic import context

from orchestrator.db import VERSION_TABLE, metadata
from orchestrator.db.migrate import include_name

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=include_name,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
