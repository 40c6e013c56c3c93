"""Add runs.launched_by, indexed with created_at.

Why: the launch page shows "the runs you launched" again when you come back after closing the
tab, so who launched a run has to be stored with it (the logged-in user's email, a browser's
launcher id, or the CLI's user@host); it also answers "who started this?" in the run table.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("launched_by", sa.String(200)))
    op.create_index("ix_runs_launched_by_created_at", "runs", ["launched_by", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_launched_by_created_at", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("launched_by")
