"""Fence each claim of a run by an attempt number; keep every attempt's task rows; exact
durations on SQLite; when a task started its work.

Why:
- `runs.attempt` grows by one with every claim of a run (first start, resume, recovery). Every
  write an executor makes for a run is conditional on the attempt it claimed, so an executor
  that lost the run (paused, cut off, presumed dead) cannot write over the one that holds it.
- `runs.auto_retries` counts the automatic resumes after a database outage (they are bounded).
- `run_tasks.attempt` joins the primary key: a resumed run keeps the record of a task that
  failed in an earlier attempt instead of overwriting it.
- `run_tasks.work_started_at`: when the task got its concurrency slot and started working, so a
  task's duration no longer includes its wait for a slot.
- `duration_seconds` is recomputed on SQLite: 0004 used strftime('%s'), which rounds a time at
  .9995 s or later up to the next second.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SQLITE_SECONDS = (
    "((CAST(strftime('%s', substr(finished_at, 1, 19)) AS INTEGER) "
    "- CAST(strftime('%s', substr(started_at, 1, 19)) AS INTEGER)) "
    "+ (CAST(substr(finished_at, 20) AS REAL) - CAST(substr(started_at, 20) AS REAL)))"
)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("auto_retries", sa.Integer(), nullable=False, server_default="0"))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint("run_tasks_pkey", "run_tasks", type_="primary")
        op.add_column("run_tasks", sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        op.add_column("run_tasks", sa.Column("work_started_at", sa.DateTime(timezone=True)))
        op.create_primary_key("run_tasks_pkey", "run_tasks", ["run_id", "task_id", "attempt"])
    else:
        # SQLite cannot change a primary key in place: build the new table, copy, swap.
        op.create_table(
            "run_tasks_0006",
            sa.Column(
                "run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
            ),
            sa.Column("task_id", sa.String(64), primary_key=True),
            sa.Column("attempt", sa.Integer(), primary_key=True, server_default="1"),
            sa.Column("node", sa.String(200), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("finished_at", sa.DateTime(timezone=True)),
            sa.Column("error", sa.Text()),
            sa.Column("step", sa.Integer()),
            sa.Column("work_started_at", sa.DateTime(timezone=True)),
        )
        columns = ["run_id", "task_id", "node", "status", "started_at", "finished_at", "error", "step"]
        old = sa.table("run_tasks", *(sa.column(c) for c in columns))
        new = sa.table("run_tasks_0006", *(sa.column(c) for c in columns))
        op.execute(new.insert().from_select(columns, sa.select(*old.c)))
        op.drop_index("ix_run_tasks_node", table_name="run_tasks")
        op.drop_table("run_tasks")
        op.rename_table("run_tasks_0006", "run_tasks")
        op.create_index("ix_run_tasks_node", "run_tasks", ["node"])
        runs = sa.table(
            "runs",
            sa.column("started_at"),
            sa.column("finished_at"),
            sa.column("duration_seconds", sa.Float()),
        )
        op.execute(
            runs.update()
            .where(runs.c.started_at.is_not(None), runs.c.finished_at.is_not(None))
            .values(duration_seconds=sa.literal_column(SQLITE_SECONDS))
        )
    # Runs claimed before this migration have had at least one attempt.
    runs_attempt = sa.table("runs", sa.column("attempt", sa.Integer()), sa.column("started_at"))
    op.execute(runs_attempt.update().where(runs_attempt.c.started_at.is_not(None)).values(attempt=1))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DELETE FROM run_tasks WHERE attempt > 1")
        op.drop_constraint("run_tasks_pkey", "run_tasks", type_="primary")
        op.drop_column("run_tasks", "work_started_at")
        op.drop_column("run_tasks", "attempt")
        op.create_primary_key("run_tasks_pkey", "run_tasks", ["run_id", "task_id"])
    else:
        op.execute("DELETE FROM run_tasks WHERE attempt > 1")
        with op.batch_alter_table("run_tasks", recreate="always") as batch:
            batch.drop_column("work_started_at")
            batch.drop_column("attempt")
            batch.create_primary_key("pk_run_tasks", ["run_id", "task_id"])
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("auto_retries")
        batch.drop_column("attempt")
