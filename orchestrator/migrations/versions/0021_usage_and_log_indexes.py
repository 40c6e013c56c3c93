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
- `ix_run_logs_warnings`, `ix_run_logs_errors`: (run_id, id) of a run's lines from WARNING up,
  and from ERROR up (partial: about one line in twenty, and one in two hundred). At 10 M log
  lines, run detail's "ERROR and above" read every line of a 100,000-line run to find its newest
  500 errors (94 ms on SQLite; python -m bench.logs_at_scale); through its index it reads those
  500 alone, in the order shown. Partial, so an INFO line written costs no more than before (the
  executor writes every line: bench.logging_overhead).

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
ERROR_UP = sa.text("level >= 40")  # logging.ERROR


def upgrade() -> None:
    op.create_index("ix_runs_cost_usd_run_id", "runs", ["cost_usd", "run_id"])
    op.execute("CREATE INDEX ix_runs_tokens_run_id ON runs ((input_tokens + output_tokens), run_id)")
    for name, where in (("ix_run_logs_warnings", WARNING_UP), ("ix_run_logs_errors", ERROR_UP)):
        op.create_index(name, "run_logs", ["run_id", "id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_run_logs_errors", table_name="run_logs")
    op.drop_index("ix_run_logs_warnings", table_name="run_logs")
    op.execute("DROP INDEX IF EXISTS ix_runs_tokens_run_id")
    op.drop_index("ix_runs_cost_usd_run_id", table_name="runs")
