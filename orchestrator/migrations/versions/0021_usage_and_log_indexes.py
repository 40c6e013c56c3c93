"""Indexes for the runs page's cost and tokens filters and sorts (issue 26).

Why: the runs page filters runs by cost (Cost $ >= / <=) and by tokens, and sorts by either;
neither had an index, so each read every run: at 100,000 runs a sort by cost took the whole
table (python -m bench.usage_indexes gives the figures before and after).
- `ix_runs_cost_usd_run_id`: (cost_usd, run_id), the cost filter and the cost sort with its
  tie-break (read backwards for the newest-first order: the column is never null).
- `ix_runs_tokens_run_id`: ((input_tokens + output_tokens), run_id), the tokens figure as the
  read path writes it (run_queries.statements.TOKENS): an expression index, outside the metadata
  (schema.EXPRESSION_INDEXES), as in 0012.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_cost_usd_run_id", "runs", ["cost_usd", "run_id"])
    op.execute("CREATE INDEX ix_runs_tokens_run_id ON runs ((input_tokens + output_tokens), run_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_runs_tokens_run_id")
    op.drop_index("ix_runs_cost_usd_run_id", table_name="runs")
