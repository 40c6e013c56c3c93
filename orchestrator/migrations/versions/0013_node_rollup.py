"""The overview's node figures from a rollup: tasks per UTC hour and day, workflow, node and
duration bin.

Why: the node figures read every task started in the period. The benchmark seeded no tasks, so
it never showed: with 20 tasks for each run of the last week of 1,000,000 (1.5 million tasks),
the node figures took 1.2 s for a day and 8.7 s for a week on SQLite.

How, as migration 0011 does for runs: triggers on `run_tasks` append each insert, update (of
node, status, started_at or finished_at) and delete to `node_deltas`, in the writer's own
transaction: +1 with the row as it is now, -1 as it was, keyed by the UTC hour the task
started, its run's workflow, its node and the bin of its seconds (-1 while it runs; the bins of
`rollup_bins`). `orchestrator.rollup.compact` folds them into `node_hours` and `node_days`.
A period's node figures read whole days from `node_days`, the hours around them from
`node_hours`, and the deltas not yet folded; they cover the whole hours the period touches.

A run's tasks are deleted before the run itself (a BEFORE DELETE trigger on `runs`), so that
their deltas can still read the run's workflow (the foreign key's cascade runs after it). A task
whose run is missing adds no delta (its insert fails on the foreign key, as before).

The figures of all workflows at once, the overview's default, are kept apart too
(`node_hours_all`, `node_days_all`): per node and bin only, a fifth of the rows with five
workflows (90 days of them: 185 -> ~50 ms on SQLite at 1,000,000 runs and 10,000,000 tasks).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WATCHED = ("node", "status", "started_at", "finished_at")
DELTA_INSERT = "INSERT INTO node_deltas (hour, workflow, node, bin, tasks, failed, seconds) "


def _bin(seconds: str) -> str:
    return (
        f"(SELECT bin FROM rollup_bins WHERE measure = 'duration' AND lower <= {seconds} "
        "ORDER BY lower DESC LIMIT 1)"
    )


def _sqlite_seconds(row: str) -> str:
    # Whole microseconds between the two texts ('YYYY-MM-DD HH:MM:SS.ffffff'), then one division:
    # the float Python's timedelta.total_seconds() gives, so a task 1 ms long is in the bin of
    # 0.001 (subtracting the two fractions as floats gave 0.000999...: the bin below).
    def micros(ts: str) -> str:
        return (
            f"(CAST(strftime('%s', substr({ts}, 1, 19)) AS INTEGER) * 1000000 "
            f"+ CAST(substr({ts}, 21) AS INTEGER))"
        )

    start, end = f"{row}.started_at", f"{row}.finished_at"
    return f"(({micros(end)} - {micros(start)}) / 1000000.0)"


def _pg_seconds(row: str) -> str:
    return f"EXTRACT(EPOCH FROM ({row}.finished_at - {row}.started_at))"


def _values(row: str, sign: str, hour: str, seconds: str) -> str:
    # A SELECT from the task's run (its workflow): a task whose run is missing adds nothing, and
    # its insert fails on the foreign key as before.
    return (
        f"SELECT {hour}, r.workflow, {row}.node, "
        f"CASE WHEN {row}.finished_at IS NULL THEN -1 ELSE {_bin(seconds)} END, {sign}1, "
        f"CASE WHEN {row}.status = 'failed' THEN {sign}1 ELSE 0 END, "
        f"CASE WHEN {row}.finished_at IS NULL THEN 0 ELSE {sign}{seconds} END "
        f"FROM runs AS r WHERE r.run_id = {row}.run_id"
    )


def _sqlite_statements() -> list[str]:
    def values(row: str, sign: str) -> str:
        return _values(row, sign, f"substr({row}.started_at, 1, 13)", _sqlite_seconds(row))

    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in WATCHED)
    return [
        f"CREATE TRIGGER run_tasks_rollup_insert AFTER INSERT ON run_tasks BEGIN {DELTA_INSERT} "
        f"{values('new', '')}; END",
        f"CREATE TRIGGER run_tasks_rollup_update AFTER UPDATE OF {', '.join(WATCHED)} ON run_tasks "
        f"WHEN {changed} BEGIN {DELTA_INSERT} {values('old', '-')} UNION ALL {values('new', '')}; END",
        f"CREATE TRIGGER run_tasks_rollup_delete AFTER DELETE ON run_tasks BEGIN {DELTA_INSERT} "
        f"{values('old', '-')}; END",
        "CREATE TRIGGER runs_delete_tasks_first BEFORE DELETE ON runs BEGIN "
        "DELETE FROM run_tasks WHERE run_id = old.run_id; END",
    ]


def _pg_statements() -> list[str]:
    def values(row: str, sign: str) -> str:
        hour = f"to_char({row}.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
        return _values(row, sign, hour, _pg_seconds(row))

    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)
    return [
        f"""CREATE FUNCTION run_tasks_rollup_delta() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NOT ({changed}) THEN
            RETURN NULL;
          END IF;
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {DELTA_INSERT} {values("OLD", "-")};
          END IF;
          IF TG_OP IN ('UPDATE', 'INSERT') THEN
            {DELTA_INSERT} {values("NEW", "")};
          END IF;
          RETURN NULL;
        END $$""",
        "CREATE TRIGGER run_tasks_rollup AFTER INSERT OR DELETE OR UPDATE OF "
        f"{', '.join(WATCHED)} ON run_tasks FOR EACH ROW EXECUTE FUNCTION run_tasks_rollup_delta()",
        """CREATE FUNCTION runs_delete_tasks_first() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM run_tasks WHERE run_id = OLD.run_id;
          RETURN OLD;
        END $$""",
        "CREATE TRIGGER runs_delete_tasks_first BEFORE DELETE ON runs FOR EACH ROW "
        "EXECUTE FUNCTION runs_delete_tasks_first()",
    ]


def _rollup(key: str, key_type: sa.types.TypeEngine, *, workflow: bool = True) -> list[sa.Column]:
    return [
        sa.Column(key, key_type, primary_key=True),
        *([sa.Column("workflow", sa.String(200), primary_key=True)] if workflow else []),
        sa.Column("node", sa.String(200), primary_key=True),
        sa.Column("bin", sa.Integer, primary_key=True),
        sa.Column("tasks", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "node_deltas",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("hour", sa.String(13), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("bin", sa.Integer, nullable=False),
        sa.Column("tasks", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )
    op.create_index("ix_node_deltas_hour", "node_deltas", ["hour"])
    op.create_table("node_hours", *_rollup("hour", sa.String(13)))
    op.create_table("node_days", *_rollup("day", sa.String(10)))
    op.create_table("node_hours_all", *_rollup("hour", sa.String(13), workflow=False))
    op.create_table("node_days_all", *_rollup("day", sa.String(10), workflow=False))

    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    hour = (
        "substr(t.started_at, 1, 13)"
        if sqlite
        else "to_char(t.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
    )
    seconds = _sqlite_seconds("t") if sqlite else _pg_seconds("t")
    binned = (
        f"SELECT {hour} AS hour, r.workflow AS workflow, t.node AS node, "
        f"CASE WHEN t.finished_at IS NULL THEN -1 ELSE {_bin(seconds)} END AS bin, "
        "CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END AS failed, "
        f"CASE WHEN t.finished_at IS NULL THEN 0 ELSE {seconds} END AS seconds "
        "FROM run_tasks AS t JOIN runs AS r ON r.run_id = t.run_id"
    )
    op.execute(
        "INSERT INTO node_hours (hour, workflow, node, bin, tasks, failed, seconds) "
        f"SELECT hour, workflow, node, bin, count(*), sum(failed), sum(seconds) FROM ({binned}) AS b "
        "GROUP BY hour, workflow, node, bin"
    )
    op.execute(
        "INSERT INTO node_days (day, workflow, node, bin, tasks, failed, seconds) "
        "SELECT substr(hour, 1, 10), workflow, node, bin, sum(tasks), sum(failed), sum(seconds) "
        "FROM node_hours GROUP BY substr(hour, 1, 10), workflow, node, bin"
    )
    for table, key in (("node_hours_all", "hour"), ("node_days_all", "day")):
        op.execute(
            f"INSERT INTO {table} ({key}, node, bin, tasks, failed, seconds) "
            f"SELECT {key}, node, bin, sum(tasks), sum(failed), sum(seconds) "
            f"FROM {table.removesuffix('_all')} GROUP BY {key}, node, bin"
        )
    for statement in _sqlite_statements() if sqlite else _pg_statements():
        op.execute(statement)
    if not sqlite:
        # A queue, as rollup_deltas (0011): vacuumed after every thousand dead rows.
        op.execute(
            "ALTER TABLE node_deltas SET (autovacuum_vacuum_scale_factor = 0, "
            "autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0, "
            "autovacuum_analyze_threshold = 1000)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in (
            "run_tasks_rollup_insert",
            "run_tasks_rollup_update",
            "run_tasks_rollup_delete",
            "runs_delete_tasks_first",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    else:
        op.execute("DROP TRIGGER IF EXISTS run_tasks_rollup ON run_tasks")
        op.execute("DROP FUNCTION IF EXISTS run_tasks_rollup_delta()")
        op.execute("DROP TRIGGER IF EXISTS runs_delete_tasks_first ON runs")
        op.execute("DROP FUNCTION IF EXISTS runs_delete_tasks_first()")
    for name in ("node_days_all", "node_hours_all", "node_days", "node_hours", "node_deltas"):
        op.drop_table(name)
