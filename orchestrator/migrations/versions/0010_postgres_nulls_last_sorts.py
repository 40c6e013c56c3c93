"""PostgreSQL: indexes in the order of the runs page's newest-first sorts on nullable columns.

Why (python -m bench, PostgreSQL, 1,000,000 runs): the page sorts a nullable column descending
with its empty values last (`DESC NULLS LAST`, then run_id). A PostgreSQL b-tree read backwards
gives `DESC NULLS FIRST`, so these sorts read and sorted every row: 0.33–0.46 s for started_at,
finished_at, duration_seconds and worker. `(column DESC NULLS LAST, run_id DESC)` is that order.
SQLite needs none: its NULLs sort first, so an ascending index read backwards is this order.

These indexes are not in `orchestrator.db.metadata` (its Index cannot be PostgreSQL-only with
an order SQLite cannot parse); `orchestrator.db.migrate.include_name` leaves them out of
Alembic's comparison (schema.POSTGRES_SORT_INDEXES).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = {
    "ix_runs_pg_started_at_desc": "started_at",
    "ix_runs_pg_finished_at_desc": "finished_at",
    "ix_runs_pg_duration_seconds_desc": "duration_seconds",
    "ix_runs_pg_worker_desc": "worker",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, column in COLUMNS.items():
        op.execute(f"CREATE INDEX {name} ON runs ({column} DESC NULLS LAST, run_id DESC)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS {name}")
