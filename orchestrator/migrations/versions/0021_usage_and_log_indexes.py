"""Indexes for the runs page's cost and tokens filters and sorts, and a run's warnings and
errors (issue 26).

Why: the runs page filters runs by cost (Cost $ >= / <=) and by tokens, and sorts by either;
neither had an index, so each read every run: at 100,000 runs a sort by cost took the whole
table (python -m bench.usage_indexes gives the figures before and after).
- `ix_runs_cost_usd_run_id`: (cost_usd, run_id), the cost filter and the cost sort with its
  tie-break (read backwards for the newest-first order: the column is never null).
- `ix_runs_tokens_run_id`: ((input_tokens + output_tokens), run_id), the tokens figure as the
  read path writes it (run_queries.statements.TOKENS): an expression index, outside the metadata
  (schema.EXPRESSION_INDEXES), as in 0012.
- `ix_run_logs_warnings`: (run_id, id) of the lines from WARNING up (partial: about one line in
  twenty). At 10 M log lines, run detail's "ERROR and above" read every line of a 100,000-line
  run to find its newest 500 errors (94 ms on SQLite; python -m bench.logs_at_scale); through
  this index it reads only the run's warnings and errors. Partial, so each INFO line written
  costs no more than before (the executor writes every line: bench.logging_overhead).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

WARNING_UP = sa.text("level >= 30")  # logging.WARNING


def upgrade() -> None:
    op.create_index("ix_runs_cost_usd_run_id", "runs", ["cost_usd", "run_id"])
    op.execute("CREATE INDEX ix_runs_tokens_run_id ON runs ((input_tokens + output_tokens), run_id)")
    op.create_index(
        "ix_run_logs_warnings",
        "run_logs",
        ["run_id", "id"],
        sqlite_where=WARNING_UP,
        postgresql_where=WARNING_UP,
    )


def downgrade() -> None:
    op.drop_index("ix_run_logs_warnings", table_name="run_logs")
    op.execute("DROP INDEX IF EXISTS ix_runs_tokens_run_id")
    op.drop_index("ix_runs_cost_usd_run_id", table_name="runs")
