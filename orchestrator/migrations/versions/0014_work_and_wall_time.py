"""A run's work time apart from its wall time; a task's work apart from its wait.

Why: the figures said a node "took" 50 s that worked 0.5 s, and a run "took" 14 minutes that
worked 3 s. The node rollup (0013) timed a task from `started_at`, its wait for a concurrency
slot included; a run's one duration (`duration_seconds`, 0004) ran from its first start to its
last finish, with the time it waited for a person, in the queue or between attempts.

What:
- `runs.duration_seconds` is renamed `wall_seconds`: first start to last finish, as before.
- `runs.work_seconds`: the sum of the run's attempts' running time (a claim to that attempt's
  end, by the database's clock). Backfilled for the runs already stored from their task rows:
  each attempt from its first task's start to its last task's end (at most the wall time); a run
  without tasks worked its wall time.
- `runs.attempt_started_at` (the current attempt's start) and `runs.tasks_planned` (the tasks the
  workflow says the run will have, when it knows).
- Indexes: `wall_seconds` and `work_seconds` for their sorts (and, on PostgreSQL, newest-first
  with empty values last, as 0010); the overview's covering index carries both.
- The overview's runs rollup keeps both durations: `rollup_durations` is keyed by `measure`
  ("work" or "wall") and `rollup_deltas` has a bin and a sum of each; a run counts in them once
  it has finished (its wall time is set). The triggers of 0011 are replaced, and the three
  rollups rebuilt from the runs.
- The node rollup times a task's work, from `work_started_at` (when it got its slot) or else
  `started_at`, to its end; a task cancelled before its work began has no work time. The
  triggers of 0013 are replaced (they also watch `work_started_at`) and the node rollups rebuilt
  from the tasks.

Revision ID: 0014
Revises: 0013
"""

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

NO_WORK_BIN = -1
RUN_WATCHED = (
    "workflow",
    "status",
    "created_at",
    "work_seconds",
    "wall_seconds",
    "tasks_total",
    "tasks_completed",
    "tasks_failed",
)
TASK_WATCHED = ("node", "status", "started_at", "work_started_at", "finished_at")
OVERVIEW = ("created_at", "run_id", "workflow", "status")
OVERVIEW_TAIL = ("tasks_total", "tasks_completed", "tasks_failed")
PG_SORTS = {"ix_runs_pg_wall_seconds_desc": "wall_seconds", "ix_runs_pg_work_seconds_desc": "work_seconds"}
RUN_DELTA_INSERT = (
    "INSERT INTO rollup_deltas (day, workflow, status, work_bin, wall_bin, tasks_bin, runs, "
    "tasks_completed, tasks_failed, work_seconds, wall_seconds) "
)
NODE_DELTA_INSERT = "INSERT INTO node_deltas (hour, workflow, node, bin, tasks, failed, seconds) "
QUEUE_VACUUM = (
    "SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000)"
)


def _bin(measure: str, value: str) -> str:
    return (
        f"(SELECT bin FROM rollup_bins WHERE measure = '{measure}' AND lower <= {value} "
        "ORDER BY lower DESC LIMIT 1)"
    )


def _sqlite_micros(ts: str) -> str:
    # Whole microseconds of a stored time ('YYYY-MM-DD HH:MM:SS.ffffff'): the seconds between two
    # are one integer difference divided once, the float Python's total_seconds() gives.
    return (
        f"(CAST(strftime('%s', substr({ts}, 1, 19)) AS INTEGER) * 1000000 "
        f"+ CAST(substr({ts}, 21) AS INTEGER))"
    )


def _seconds(sqlite: bool, start: str, end: str) -> str:
    if sqlite:
        return f"(({_sqlite_micros(end)} - {_sqlite_micros(start)}) / 1000000.0)"
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


# -- runs -------------------------------------------------------------------------------------


def _run_values(row: str, sign: str, day: str) -> str:
    finished = f"{row}.wall_seconds IS NOT NULL"
    return (
        f"SELECT {day}, {row}.workflow, {row}.status, "
        f"CASE WHEN {finished} THEN {_bin('duration', f'{row}.work_seconds')} END, "
        f"CASE WHEN {finished} THEN {_bin('duration', f'{row}.wall_seconds')} END, "
        f"{_bin('tasks', f'{row}.tasks_total')}, {sign}1, {sign}{row}.tasks_completed, "
        f"{sign}{row}.tasks_failed, CASE WHEN {finished} THEN {sign}{row}.work_seconds END, "
        f"{sign}{row}.wall_seconds"
    )


def _run_triggers(sqlite: bool) -> list[str]:
    if sqlite:
        day = "substr({row}.created_at, 1, 10)"
        new = _run_values("new", "", day.format(row="new"))
        old = _run_values("old", "-", day.format(row="old"))
        changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in RUN_WATCHED)
        return [
            f"CREATE TRIGGER runs_rollup_insert AFTER INSERT ON runs BEGIN {RUN_DELTA_INSERT} {new}; END",
            f"CREATE TRIGGER runs_rollup_update AFTER UPDATE OF {', '.join(RUN_WATCHED)} ON runs "
            f"WHEN {changed} BEGIN {RUN_DELTA_INSERT} {old} UNION ALL {new}; END",
            f"CREATE TRIGGER runs_rollup_delete AFTER DELETE ON runs BEGIN {RUN_DELTA_INSERT} {old}; END",
        ]
    day = "({row}.created_at AT TIME ZONE 'UTC')::date"
    new = _run_values("NEW", "", day.format(row="NEW"))
    old = _run_values("OLD", "-", day.format(row="OLD"))
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in RUN_WATCHED)
    return [
        f"""CREATE FUNCTION runs_rollup_delta() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NOT ({changed}) THEN
            RETURN NULL;
          END IF;
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {RUN_DELTA_INSERT} {old};
          END IF;
          IF TG_OP IN ('UPDATE', 'INSERT') THEN
            {RUN_DELTA_INSERT} {new};
          END IF;
          RETURN NULL;
        END $$""",
        "CREATE TRIGGER runs_rollup AFTER INSERT OR DELETE OR UPDATE OF "
        f"{', '.join(RUN_WATCHED)} ON runs FOR EACH ROW EXECUTE FUNCTION runs_rollup_delta()",
    ]


def _drop_run_triggers(sqlite: bool) -> None:
    if sqlite:
        for trigger in ("runs_rollup_insert", "runs_rollup_update", "runs_rollup_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    else:
        op.execute("DROP TRIGGER IF EXISTS runs_rollup ON runs")
        op.execute("DROP FUNCTION IF EXISTS runs_rollup_delta()")


def _backfill_work(sqlite: bool) -> None:
    """Each stored run's work from its task rows (see the module docstring)."""
    span = _seconds(sqlite, "min(started_at)", f"max({'coalesce(finished_at, started_at)'})")
    per_run = (
        f"SELECT run_id, sum(span) AS work FROM (SELECT run_id, {span} AS span FROM run_tasks "
        "GROUP BY run_id, attempt) AS attempts GROUP BY run_id"
    )
    if sqlite:
        op.execute("CREATE TEMP TABLE work_backfill (run_id TEXT PRIMARY KEY, work REAL)")
        op.execute(f"INSERT INTO work_backfill {per_run}")
        op.execute(
            "UPDATE runs SET work_seconds = (SELECT work FROM work_backfill AS w WHERE w.run_id = runs.run_id) "
            "WHERE run_id IN (SELECT run_id FROM work_backfill)"
        )
        op.execute("DROP TABLE work_backfill")
    else:
        op.execute(
            f"UPDATE runs SET work_seconds = w.work FROM ({per_run}) AS w WHERE w.run_id = runs.run_id"
        )
    smaller = "min" if sqlite else "LEAST"
    op.execute(
        f"UPDATE runs SET work_seconds = {smaller}(coalesce(work_seconds, wall_seconds), wall_seconds) "
        "WHERE wall_seconds IS NOT NULL"
    )
    # A run going while this runs (another worker): its attempt began at its start at the latest.
    op.execute("UPDATE runs SET attempt_started_at = started_at WHERE status = 'running'")


def _rebuild_run_rollups(sqlite: bool, *, measures: bool = True) -> None:
    """The three rollups from the runs (the deltas are dropped with their table). `measures`:
    durations keyed by measure (this migration), else 0011's one duration, `duration_seconds`."""
    day = "substr(created_at, 1, 10)" if sqlite else "(created_at AT TIME ZONE 'UTC')::date"
    for table in ("rollup_status", "rollup_durations", "rollup_tasks"):
        op.execute(f"DELETE FROM {table}")
    op.execute(
        "INSERT INTO rollup_status (day, workflow, status, runs, tasks_completed, tasks_failed) "
        f"SELECT {day}, workflow, status, count(*), sum(tasks_completed), sum(tasks_failed) "
        f"FROM runs GROUP BY {day}, workflow, status"
    )
    for measure in ("work", "wall") if measures else ("duration",):
        value = f"{measure}_seconds"
        finished = "wall_seconds" if measures else value
        key, key_value = ("measure, ", f"'{measure}', ") if measures else ("", "")
        op.execute(
            f"INSERT INTO rollup_durations (day, workflow, {key}bin, runs, seconds) "
            f"SELECT d, workflow, {key_value}b, count(*), sum(v) "
            f"FROM (SELECT {day} AS d, workflow, {value} AS v, {_bin('duration', value)} AS b FROM runs "
            f"WHERE {finished} IS NOT NULL AND {value} IS NOT NULL) AS binned GROUP BY d, workflow, b"
        )
    op.execute(
        "INSERT INTO rollup_tasks (day, workflow, bin, runs) SELECT d, workflow, b, count(*) "
        f"FROM (SELECT {day} AS d, workflow, {_bin('tasks', 'tasks_total')} AS b FROM runs) AS binned "
        "GROUP BY d, workflow, b"
    )


def _create_run_rollup_tables() -> None:
    op.create_table(
        "rollup_deltas",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("work_bin", sa.Integer),
        sa.Column("wall_bin", sa.Integer),
        sa.Column("tasks_bin", sa.Integer, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("tasks_completed", sa.Integer, nullable=False),
        sa.Column("tasks_failed", sa.Integer, nullable=False),
        sa.Column("work_seconds", sa.Float),
        sa.Column("wall_seconds", sa.Float),
    )
    op.create_index("ix_rollup_deltas_day", "rollup_deltas", ["day"])
    op.create_table(
        "rollup_durations",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("workflow", sa.String(200), primary_key=True),
        sa.Column("measure", sa.String(10), primary_key=True),
        sa.Column("bin", sa.Integer, primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )


# -- tasks ------------------------------------------------------------------------------------


def _task_values(sqlite: bool, row: str, sign: str) -> str:
    hour = (
        f"substr({row}.started_at, 1, 13)"
        if sqlite
        else f"to_char({row}.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
    )
    seconds = _seconds(sqlite, f"coalesce({row}.work_started_at, {row}.started_at)", f"{row}.finished_at")
    no_work = f"{row}.finished_at IS NULL OR {row}.status = 'cancelled'"
    # From the task's run (its workflow): a task whose run is missing adds nothing.
    return (
        f"SELECT {hour}, r.workflow, {row}.node, "
        f"CASE WHEN {no_work} THEN {NO_WORK_BIN} ELSE {_bin('duration', seconds)} END, {sign}1, "
        f"CASE WHEN {row}.status = 'failed' THEN {sign}1 ELSE 0 END, "
        f"CASE WHEN {no_work} THEN 0 ELSE {sign}{seconds} END "
        f"FROM runs AS r WHERE r.run_id = {row}.run_id"
    )


def _task_triggers(sqlite: bool) -> list[str]:
    if sqlite:
        changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in TASK_WATCHED)
        return [
            f"CREATE TRIGGER run_tasks_rollup_insert AFTER INSERT ON run_tasks BEGIN {NODE_DELTA_INSERT} "
            f"{_task_values(True, 'new', '')}; END",
            f"CREATE TRIGGER run_tasks_rollup_update AFTER UPDATE OF {', '.join(TASK_WATCHED)} ON run_tasks "
            f"WHEN {changed} BEGIN {NODE_DELTA_INSERT} {_task_values(True, 'old', '-')} UNION ALL "
            f"{_task_values(True, 'new', '')}; END",
            f"CREATE TRIGGER run_tasks_rollup_delete AFTER DELETE ON run_tasks BEGIN {NODE_DELTA_INSERT} "
            f"{_task_values(True, 'old', '-')}; END",
        ]
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in TASK_WATCHED)
    return [
        f"""CREATE FUNCTION run_tasks_rollup_delta() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NOT ({changed}) THEN
            RETURN NULL;
          END IF;
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {NODE_DELTA_INSERT} {_task_values(False, "OLD", "-")};
          END IF;
          IF TG_OP IN ('UPDATE', 'INSERT') THEN
            {NODE_DELTA_INSERT} {_task_values(False, "NEW", "")};
          END IF;
          RETURN NULL;
        END $$""",
        "CREATE TRIGGER run_tasks_rollup AFTER INSERT OR DELETE OR UPDATE OF "
        f"{', '.join(TASK_WATCHED)} ON run_tasks FOR EACH ROW EXECUTE FUNCTION run_tasks_rollup_delta()",
    ]


def _drop_task_triggers(sqlite: bool) -> None:
    if sqlite:
        for trigger in ("run_tasks_rollup_insert", "run_tasks_rollup_update", "run_tasks_rollup_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    else:
        op.execute("DROP TRIGGER IF EXISTS run_tasks_rollup ON run_tasks")
        op.execute("DROP FUNCTION IF EXISTS run_tasks_rollup_delta()")


def _rebuild_node_rollups(sqlite: bool, *, work: bool = True) -> None:
    """The node rollups from the tasks; `work`: timed from the work's start (this migration), else
    from `started_at` as 0013 did."""
    hour = (
        "substr(t.started_at, 1, 13)"
        if sqlite
        else "to_char(t.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
    )
    start = "coalesce(t.work_started_at, t.started_at)" if work else "t.started_at"
    seconds = _seconds(sqlite, start, "t.finished_at")
    no_work = "t.finished_at IS NULL OR t.status = 'cancelled'" if work else "t.finished_at IS NULL"
    binned = (
        f"SELECT {hour} AS hour, r.workflow AS workflow, t.node AS node, "
        f"CASE WHEN {no_work} THEN {NO_WORK_BIN} ELSE {_bin('duration', seconds)} END AS bin, "
        "CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END AS failed, "
        f"CASE WHEN {no_work} THEN 0 ELSE {seconds} END AS seconds "
        "FROM run_tasks AS t JOIN runs AS r ON r.run_id = t.run_id"
    )
    for table in ("node_deltas", "node_hours", "node_days", "node_hours_all", "node_days_all"):
        op.execute(f"DELETE FROM {table}")
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


# -- the migration ----------------------------------------------------------------------------


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_run_triggers(sqlite)
    _drop_task_triggers(sqlite)
    op.drop_index("ix_runs_overview", table_name="runs")
    op.drop_index("ix_runs_duration_seconds", table_name="runs")
    if not sqlite:
        op.execute("DROP INDEX IF EXISTS ix_runs_pg_duration_seconds_desc")
    # SQLite (3.25+) and PostgreSQL rename a column in place, with no copy of the table.
    op.execute("ALTER TABLE runs RENAME COLUMN duration_seconds TO wall_seconds")
    op.add_column("runs", sa.Column("work_seconds", sa.Float))
    op.add_column("runs", sa.Column("attempt_started_at", sa.DateTime(timezone=True)))
    op.add_column("runs", sa.Column("tasks_planned", sa.Integer))
    _backfill_work(sqlite)
    op.create_index("ix_runs_wall_seconds", "runs", ["wall_seconds"])
    op.create_index("ix_runs_work_seconds", "runs", ["work_seconds"])
    op.create_index("ix_runs_overview", "runs", [*OVERVIEW, "work_seconds", "wall_seconds", *OVERVIEW_TAIL])
    if not sqlite:
        for name, column in PG_SORTS.items():
            op.execute(f"CREATE INDEX {name} ON runs ({column} DESC NULLS LAST, run_id DESC)")

    op.drop_table("rollup_durations")
    op.drop_index("ix_rollup_deltas_day", table_name="rollup_deltas")
    op.drop_table("rollup_deltas")
    _create_run_rollup_tables()
    _rebuild_run_rollups(sqlite)
    _rebuild_node_rollups(sqlite)
    for statement in [*_run_triggers(sqlite), *_task_triggers(sqlite)]:
        op.execute(statement)
    if not sqlite:
        op.execute(f"ALTER TABLE rollup_deltas {QUEUE_VACUUM}")


def _sibling(filename: str) -> ModuleType:
    """An earlier migration of this folder, to recreate what it made (the shapes of 0011 and 0013)."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"orchestrator_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    rollup_0011 = _sibling("0011_overview_rollup.py")
    nodes_0013 = _sibling("0013_node_rollup.py")
    _drop_run_triggers(sqlite)
    _drop_task_triggers(sqlite)
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS runs_delete_tasks_first")
    else:
        op.execute("DROP TRIGGER IF EXISTS runs_delete_tasks_first ON runs")
        op.execute("DROP FUNCTION IF EXISTS runs_delete_tasks_first()")
        for name in PG_SORTS:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    for name in ("ix_runs_overview", "ix_runs_wall_seconds", "ix_runs_work_seconds"):
        op.drop_index(name, table_name="runs")
    for column in ("tasks_planned", "attempt_started_at", "work_seconds"):
        op.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    op.execute("ALTER TABLE runs RENAME COLUMN wall_seconds TO duration_seconds")
    op.create_index("ix_runs_duration_seconds", "runs", ["duration_seconds"])
    op.create_index("ix_runs_overview", "runs", [*OVERVIEW, "duration_seconds", *OVERVIEW_TAIL])
    if not sqlite:
        op.execute(
            "CREATE INDEX ix_runs_pg_duration_seconds_desc ON runs (duration_seconds DESC NULLS LAST, run_id DESC)"
        )
    # The runs' rollup as 0011 made it, rebuilt from the runs; the node rollup as 0013 kept it.
    op.drop_table("rollup_durations")
    op.drop_index("ix_rollup_deltas_day", table_name="rollup_deltas")
    op.drop_table("rollup_deltas")
    op.create_table(
        "rollup_deltas",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("duration_bin", sa.Integer),
        sa.Column("tasks_bin", sa.Integer, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("tasks_completed", sa.Integer, nullable=False),
        sa.Column("tasks_failed", sa.Integer, nullable=False),
        sa.Column("duration_seconds", sa.Float),
    )
    op.create_index("ix_rollup_deltas_day", "rollup_deltas", ["day"])
    op.create_table(
        "rollup_durations",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("workflow", sa.String(200), primary_key=True),
        sa.Column("bin", sa.Integer, primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )
    _rebuild_run_rollups(sqlite, measures=False)
    _rebuild_node_rollups(sqlite, work=False)
    statements = rollup_0011._sqlite_triggers() if sqlite else rollup_0011._pg_trigger()
    statements += nodes_0013._sqlite_statements() if sqlite else nodes_0013._pg_statements()
    for statement in statements:
        op.execute(statement)
    if not sqlite:
        op.execute(f"ALTER TABLE rollup_deltas {QUEUE_VACUUM}")
