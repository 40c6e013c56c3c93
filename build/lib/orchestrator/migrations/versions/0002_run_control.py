"""Add run-control columns: cancel_requested, resume_value, rerun_of.

Why: cancel, approve and re-run are asked for in one process (the dashboard, the CLI) and
carried out in another (the executor that holds the run), so the request has to live in the
run's row: `cancel_requested` is polled with the heartbeat, `resume_value` carries the answer
to a pending interrupt() to whichever executor claims the run next, and `rerun_of` links a
re-run to its original.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            # A literal default (not sa.false()) lets SQLite add the column in place.
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column(
                "resume_value",
                sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"),
            )
        )
        batch.add_column(sa.Column("rerun_of", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("rerun_of")
        batch.drop_column("resume_value")
        batch.drop_column("cancel_requested")
