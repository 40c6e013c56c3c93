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

from orchestrator.db import seconds_between

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


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
        .values(duration_seconds=seconds_between(runs.c.started_at, runs.c.finished_at))
    )
    op.create_index("ix_runs_duration_seconds", "runs", ["duration_seconds"])


def downgrade() -> None:
    op.drop_index("ix_runs_duration_seconds", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("duration_seconds")
