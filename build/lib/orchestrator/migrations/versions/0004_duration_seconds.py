"""Add runs.duration_seconds, indexed, and fill it for finished runs.

Why: sorting the runs list by duration, and the overview's duration percentiles and
histogram, computed the duration from two timestamps for every row; at a million runs that
is a full scan and sort. A column written when a run finishes makes sorting by duration an
index scan and the aggregates several times cheaper (on SQLite the timestamp arithmetic is
string work per row).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# finished_at - started_at in seconds, as each backend spells it (written out here: migrations
# do not import the package's live code). Migration 0006 recomputes these exactly on SQLite.
SECONDS = {
    "postgresql": "EXTRACT(EPOCH FROM (finished_at - started_at))",
    "sqlite": "((CAST(strftime('%s', finished_at) AS INTEGER) - CAST(strftime('%s', started_at) AS INTEGER)) "
    "+ (CAST(substr(finished_at, 20) AS REAL) - CAST(substr(started_at, 20) AS REAL)))",
}


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("duration_seconds", sa.Float()))
    runs = sa.table(
        "runs",
        sa.column("started_at"),
        sa.column("finished_at"),
        sa.column("duration_seconds", sa.Float()),
    )
    op.execute(
        runs.update()
        .where(runs.c.started_at.is_not(None), runs.c.finished_at.is_not(None))
        .values(duration_seconds=sa.literal_column(SECONDS[op.get_bind().dialect.name]))
    )
    op.create_index("ix_runs_duration_seconds", "runs", ["duration_seconds"])


def downgrade() -> None:
    op.drop_index("ix_runs_duration_seconds", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("duration_seconds")
