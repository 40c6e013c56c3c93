"""Add a covering index for the overview's aggregates over a created_at range (replacing
ix_runs_created_at, its first column).

Why: the overview reads every run of a period (a week is some 80,000 rows at a million runs)
to count, sum and bin them; with only ix_runs_created_at each row is a lookup into the table.
This index holds every column those aggregates read, so they run on the index alone (on
SQLite at 300,000 runs: headline figures 85 → 29 ms, histograms 58 → 6 ms each).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = [
    "created_at",
    "workflow",
    "status",
    "duration_seconds",
    "tasks_total",
    "tasks_completed",
    "tasks_failed",
]


def upgrade() -> None:
    op.create_index("ix_runs_overview", "runs", COLUMNS)
    op.drop_index("ix_runs_created_at", table_name="runs")


def downgrade() -> None:
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.drop_index("ix_runs_overview", table_name="runs")
