"""Per-run config, forks, presets and workers.

Why:
- `runs.config`: the `configurable` keys a run is launched with (LangGraph's per-run config,
  e.g. a ledger URL), kept with the run so a resume or a re-run gets the same.
- `runs.parent_run_id`, `parent_checkpoint_id`, `parent_step`: a run forked from another run's
  checkpoint (with its state edited or not) records where it came from, so compare can show
  where the two part.
- `runs.preset`: the preset (named input and config) a run was launched from.
- `presets`: named input + config per workflow, launched from the page or `run --preset`.
- `workers`: each executor's name, heartbeat and the workflows it can build, so a worker claims
  only runs it can execute and a run no online worker can run says so.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("config", JSONType()))
        batch.add_column(sa.Column("parent_run_id", sa.String(64)))
        batch.add_column(sa.Column("parent_checkpoint_id", sa.String(64)))
        batch.add_column(sa.Column("parent_step", sa.Integer()))
        batch.add_column(sa.Column("preset", sa.String(200)))
    op.create_index("ix_runs_parent_run_id", "runs", ["parent_run_id"])
    op.create_table(
        "presets",
        sa.Column("workflow", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("description", sa.Text()),
        sa.Column("input", JSONType()),
        sa.Column("config", JSONType()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200)),
    )
    op.create_table(
        "workers",
        sa.Column("worker", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("workflows", JSONType(), nullable=False),
        sa.Column("broken", JSONType()),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("presets")
    op.drop_index("ix_runs_parent_run_id", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("preset")
        batch.drop_column("parent_step")
        batch.drop_column("parent_checkpoint_id")
        batch.drop_column("parent_run_id")
        batch.drop_column("config")
