"""What a run's tasks logged, and the model calls they made (tokens, cost), kept with the run.

Why: a run's tasks, checkpoints and state did not say what a node logged or which model calls it
made and what they cost: the first questions when a run is slow, wrong or expensive.
- `run_logs`: every logging record emitted while a task ran (any logger), per task and attempt,
  bounded per task; read by run and task in the order written (the two indexes).
- `run_model_calls`: every chat-model or LLM call (LangChain's callbacks), with its tokens and cost.
- `run_task_io`: what each task was given and wrote, bounded, secret-named keys redacted.
- `runs.warnings`, `runs.errors`: the run's log records at WARNING, and at ERROR or above;
  `runs.model_calls`, `input_tokens`, `output_tokens`, `cost_usd`: its model calls' totals. Kept
  on the row, so the runs page shows them without reading the logs.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

RUN_COLUMNS = (
    ("warnings", sa.Integer(), "0"),
    ("errors", sa.Integer(), "0"),
    ("model_calls", sa.Integer(), "0"),
    ("input_tokens", sa.BigInteger(), "0"),
    ("output_tokens", sa.BigInteger(), "0"),
    ("cost_usd", sa.Float(), "0"),
)


def JSONType() -> sa.types.TypeEngine:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # ALTER TABLE ... ADD COLUMN in place on both backends (no rebuild: `runs` keeps its triggers).
    for name, type_, default in RUN_COLUMNS:
        op.add_column("runs", sa.Column(name, type_, nullable=False, server_default=default))
    op.create_table(
        "run_logs",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("logger", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index("ix_run_logs_run_id_id", "run_logs", ["run_id", "id"])
    op.create_index("ix_run_logs_run_id_task_id_id", "run_logs", ["run_id", "task_id", "id"])
    op.create_table(
        "run_model_calls",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64)),
        sa.Column("node", sa.String(200)),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latency_seconds", sa.Float()),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_run_model_calls_run_id_id", "run_model_calls", ["run_id", "id"])
    op.create_table(
        "run_task_io",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("input", JSONType()),
        sa.Column("output", JSONType()),
    )


def downgrade() -> None:
    op.drop_table("run_task_io")
    op.drop_index("ix_run_model_calls_run_id_id", table_name="run_model_calls")
    op.drop_table("run_model_calls")
    op.drop_index("ix_run_logs_run_id_task_id_id", table_name="run_logs")
    op.drop_index("ix_run_logs_run_id_id", table_name="run_logs")
    op.drop_table("run_logs")
    # ALTER TABLE ... DROP COLUMN on both backends (SQLite 3.35+): a batch rebuild of `runs`
    # on SQLite would drop its triggers (see 0011).
    for name, _type, _default in reversed(RUN_COLUMNS):
        op.execute(f"ALTER TABLE runs DROP COLUMN {name}")
