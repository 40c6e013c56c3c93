"""Create runs and run_tasks.

Why: the first schema. `runs` records every run (also LangGraph's thread); `run_tasks` keeps
one row per executed node for timelines. Types are written out here, not imported from
orchestrator.db, so this migration keeps meaning what it meant when later ones change the
package (a UTC datetime is `DateTime(timezone=True)` in the database on both backends).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("tasks_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tasks_completed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tasks_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("input", JSONType),
        sa.Column("state_snapshot", JSONType),
        sa.Column("error", sa.Text()),
        sa.Column("tags", JSONType),
        sa.Column("heartbeat_at", UTCDateTime()),
        sa.Column("worker", sa.String(200)),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_status_created_at", "runs", ["status", "created_at"])
    op.create_index("ix_runs_workflow_created_at", "runs", ["workflow", "created_at"])
    op.create_index("ix_runs_tasks_total", "runs", ["tasks_total"])
    op.create_index("ix_runs_tasks_completed", "runs", ["tasks_completed"])
    op.create_index("ix_runs_tasks_failed", "runs", ["tasks_failed"])
    op.create_index("ix_runs_finished_at", "runs", ["finished_at"])
    op.create_table(
        "run_tasks",
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("error", sa.Text()),
        sa.Column("step", sa.Integer()),
    )
    op.create_index("ix_run_tasks_node", "run_tasks", ["node"])


def downgrade() -> None:
    op.drop_table("run_tasks")
    op.drop_table("runs")
