"""A run's note, and who changed a run's tags or note, when, from what to what.

Why: tags were set at launch and never again, and a run had nowhere to say what was learnt from
it. Tags and a markdown note are now edited after launch (run detail, `orchestrator tag` and
`note`, the runs page's bulk tagging); each change is a `run_edits` row (run, time, who, field,
old and new value), deleted with its run.

`runs.note` is added in place (SQLite's ADD COLUMN, no copy of the table: the search index of
0008 keys on the runs' rowids).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.add_column("runs", sa.Column("note", sa.Text))
    op.create_table(
        "run_edits",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(200)),
        sa.Column("field", sa.String(20), nullable=False),
        sa.Column("old", JSONType()),
        sa.Column("new", JSONType()),
    )
    op.create_index("ix_run_edits_run_id_at", "run_edits", ["run_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_run_edits_run_id_at", table_name="run_edits")
    op.drop_table("run_edits")
    op.execute("ALTER TABLE runs DROP COLUMN note")
