"""The overview's model-call figures without reading every run or call (issue 26).

Why: the overview shows tokens and cost per day and per workflow, and the most expensive runs
and nodes, over a period of up to months. The run rollups (0011, 0014) hold no usage, and
teaching their triggers a new sum means rewriting them on both databases; these two indexes
serve bounded reads instead (orchestrator.observe.usage):
- `ix_runs_usage`: runs that made a model call (partial: `model_calls > 0`), by creation time,
  with the figures summed, so a period's usage is read from the index alone, one entry per run
  with calls, none for the rest;
- `ix_run_model_calls_started_at`: a period's latest calls, for the most expensive nodes.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

USAGE_COLUMNS = ["created_at", "workflow", "model_calls", "input_tokens", "output_tokens", "cost_usd", "run_id"]
WITH_CALLS = sa.text("model_calls > 0")


def upgrade() -> None:
    op.create_index(
        "ix_runs_usage", "runs", USAGE_COLUMNS, sqlite_where=WITH_CALLS, postgresql_where=WITH_CALLS
    )
    op.create_index("ix_run_model_calls_started_at", "run_model_calls", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_run_model_calls_started_at", table_name="run_model_calls")
    op.drop_index("ix_runs_usage", table_name="runs")
