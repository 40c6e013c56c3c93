"""Which fields have an expression index the package made (`orchestrator index add FIELD`).

Why (issue 25): a filter or sort on a field meets the runs page's target at 1 M runs only on an
index; `input.tasks` had the one index 0017 made, and a team's own field (`metrics.accuracy`)
had to be indexed by hand-written SQL that SQLite's planner then did not know of. The package
now makes such indexes itself (orchestrator.db.field_indexes, with the very expression the read
path writes) and lists them here, so every planner knows which fields may lead a page.

- `field_indexes`: the field's dotted path, the index names made for it (PostgreSQL: also the
  newest-first one), when and by whom. `input.tasks` is listed with 0017's indexes.

Revision ID: 0019
Revises: 0018
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "field_indexes",
        sa.Column("field", sa.String(400), primary_key=True),
        sa.Column("index_names", sa.String(400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200)),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    names = "ix_runs_input_tasks ix_runs_pg_input_tasks_desc" if postgres else "ix_runs_input_tasks"
    # SQLite keeps naive UTC text, as schema.UTCDateTime writes it.
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(
        table,
        [
            {
                "field": "input.tasks",
                "index_names": names,
                "created_at": now if postgres else now.replace(tzinfo=None),
                "created_by": "migration 0017",
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("field_indexes")
