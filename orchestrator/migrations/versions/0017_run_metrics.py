"""Fields of a run's input, final state and metrics, filtered and sorted in the database; a
team's own metrics per run.

Why (issue 25): the runs page could filter and sort only by its own columns; a team that asks
"which runs had tasks >= 100, best accuracy first" read every run.

- `runs.metrics` (JSON): the latest value of each metric the run recorded, by name, written in
  the same transaction as the metric's row: `metrics.accuracy` filters, sorts and shows as the
  input's fields do, without a subquery per run on the runs page.
- `run_metrics`: every value a run recorded (run_id, name, step, value, at), for a metric's series.
- Expression indexes on `input.tasks` (the built-in workflows' size), as the read path spells it
  (orchestrator.db.json_paths): SQLite `json_extract(input, '$.tasks')`, PostgreSQL
  `NULLIF(input -> 'tasks', 'null'::jsonb)`, each with run_id (the page's tie-break); on PostgreSQL also newest-first
  with empty values last (see 0010). Outside the metadata, as the expression indexes of 0012
  (schema.EXPRESSION_INDEXES). README "Indexed fields" says how a team adds one for its own field.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

PG_TASKS = "NULLIF(input -> 'tasks', 'null'::jsonb)"


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: SQLite keeps the table (and its triggers) as it is.
    op.add_column("runs", sa.Column("metrics", JSONType()))
    op.create_table(
        "run_metrics",
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("step", sa.Integer(), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_runs_input_tasks ON runs (({PG_TASKS}), run_id)")
        op.execute(
            f"CREATE INDEX ix_runs_pg_input_tasks_desc ON runs (({PG_TASKS}) DESC NULLS LAST, run_id DESC)"
        )
    else:
        op.execute("CREATE INDEX ix_runs_input_tasks ON runs (json_extract(input, '$.tasks'), run_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_runs_pg_input_tasks_desc")
    op.execute("DROP INDEX IF EXISTS ix_runs_input_tasks")
    op.drop_table("run_metrics")
    # DROP COLUMN in place (SQLite 3.35+): a batch copy of runs would break its triggers.
    op.execute("ALTER TABLE runs DROP COLUMN metrics")
