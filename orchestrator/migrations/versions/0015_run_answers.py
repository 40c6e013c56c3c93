"""Who answered each of a run's interrupts, and with what: the first answer wins.

Why: answers were kept only in `runs.resume_value`, written by a conditional update on the run's
status. Two people answering at once both saw success, and an answer sent after the run had
moved on was silently dropped. A row per (run, interrupt), written in the same transaction as
the run's move to `queued` (or `cancelled`), makes the first answer to an interrupt the only
one: a second insert of the same key fails on the primary key on both backends, and the refusal
can say who answered, when and what.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "run_answers",
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("interrupt_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("answer", JSONType()),
        sa.Column("answered_by", sa.String(200)),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_answers")
