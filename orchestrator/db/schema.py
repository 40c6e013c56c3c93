"""The project's tables (`runs`, `run_tasks`) and the portable column types they use.

LangGraph's savers own their own tables; these are ours. Changes to them are migrations
(`orchestrator/migrations`), and a test checks that the migrated schema equals this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

# JSON text on SQLite, JSONB on PostgreSQL: one portable type.
# none_as_null: Python None is SQL NULL (sorts last, matches IS NULL), not the JSON text "null".
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both backends.

    PostgreSQL stores `timestamptz`; SQLite stores naive UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'),
    which sorts correctly, and gets its tzinfo back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        # SQLite's text straight to an aware datetime by the C parser: SQLAlchemy's own DATETIME
        # parses it with a regular expression, which took a third of a page of 50 runs (0.2 ms).
        if dialect.name == "sqlite":
            return _sqlite_utc
        return super().result_processor(dialect, coltype)


def _sqlite_utc(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value + "+00:00")


def utcnow() -> dt.datetime:
    """This process's clock, in UTC (for what it records about itself; staleness uses the database's)."""
    return dt.datetime.now(dt.UTC)


metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),  # also LangGraph's thread_id
    Column("workflow", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # orchestrator.status.RunStatus
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("tasks_total", Integer, nullable=False, default=0),
    Column("tasks_completed", Integer, nullable=False, default=0),
    Column("tasks_failed", Integer, nullable=False, default=0),
    Column("input", JSONType),
    Column("state_snapshot", JSONType),
    Column("error", Text),
    Column("tags", JSONType),
    Column("heartbeat_at", UTCDateTime),
    Column("worker", String(200)),
    # Added by migration 0002 (run control across processes).
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("resume_value", JSONType),
    Column("rerun_of", String(64)),
    # Added by migration 0003.
    Column("launched_by", String(200)),
    # Migration 0004 added it as duration_seconds; 0014 named it for what it is. finished_at -
    # started_at (the first start to the last finish, waits and pauses included), written when
    # a run finishes; both times are the database's clock.
    Column("wall_seconds", Float),
    # Added by migration 0006: the claim number every executor write is fenced by, and the
    # automatic resumes after database outages.
    Column("attempt", Integer, nullable=False, default=0),
    Column("auto_retries", Integer, nullable=False, default=0),
    # Added by migration 0007: the run's `configurable` keys; where a fork came from; its preset.
    Column("config", JSONType),
    Column("parent_run_id", String(64)),
    Column("parent_checkpoint_id", String(64)),
    Column("parent_step", Integer),
    Column("preset", String(200)),
    # Added by migration 0014: the run's work, the sum of its attempts' running time (claim to
    # the attempt's end, by the database's clock), without time waiting for a person, in the
    # queue or between attempts; the current attempt's start; and the tasks the workflow says
    # the run will have (None: not known before it runs).
    Column("work_seconds", Float),
    Column("attempt_started_at", UTCDateTime),
    Column("tasks_planned", Integer),
    # Added by migration 0016: a markdown note, written after launch (its changes: run_edits).
    Column("note", Text),
    # Added by migration 0017: the latest value of each metric the run recorded, by name
    # (run_metrics has every value), read as `metrics.<name>` fields.
    Column("metrics", JSONType),
    # Added by migration 0018: what the run's tasks logged at WARNING and at ERROR or above
    # (orchestrator.observe), and its model calls, their tokens and their cost (US dollars, from
    # the configured prices; 0 for models without a price).
    Column("warnings", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("model_calls", Integer, nullable=False, default=0),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Index("ix_runs_parent_run_id", "parent_run_id"),
    # Migration 0012 ended these with run_id, the page's tie-break: a deep page skips on the index.
    Index("ix_runs_status_created_at", "status", "created_at", "run_id"),
    Index("ix_runs_workflow_created_at", "workflow", "created_at", "run_id"),
    Index("ix_runs_finished_at", "finished_at"),
    Index("ix_runs_launched_by_created_at", "launched_by", "created_at", "run_id"),
    Index("ix_runs_wall_seconds", "wall_seconds"),
    Index("ix_runs_work_seconds", "work_seconds"),
    # Migration 0008: a status with a task-count range, on the index alone.
    Index("ix_runs_status_tasks_total", "status", "tasks_total"),
    Index("ix_runs_status_tasks_completed", "status", "tasks_completed"),
    Index("ix_runs_status_tasks_failed", "status", "tasks_failed"),
    # Migration 0009: each sort with its tie-break on run_id (and the task-count range filters).
    Index("ix_runs_status_run_id", "status", "run_id"),
    Index("ix_runs_workflow_run_id", "workflow", "run_id"),
    Index("ix_runs_worker_run_id", "worker", "run_id"),
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_tasks_total_run_id", "tasks_total", "run_id"),
    Index("ix_runs_tasks_completed_run_id", "tasks_completed", "run_id"),
    Index("ix_runs_tasks_failed_run_id", "tasks_failed", "run_id"),
    # Migration 0005: sorts by created_at, and covers the overview's aggregates over a range
    # (0012 put run_id, the sort's tie-break, second; 0014 the two durations).
    Index(
        "ix_runs_overview",
        "created_at",
        "run_id",
        "workflow",
        "status",
        "work_seconds",
        "wall_seconds",
        "tasks_total",
        "tasks_completed",
        "tasks_failed",
    ),
    # Migration 0020: the runs that made a model call, by creation time, with their usage: a
    # period's tokens and cost from this index alone (orchestrator.observe.usage).
    Index(
        "ix_runs_usage",
        "created_at",
        "workflow",
        "model_calls",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "run_id",
        sqlite_where=text("model_calls > 0"),
        postgresql_where=text("model_calls > 0"),
    ),
    # Migration 0021: the runs page's cost filter and sort, with its tie-break.
    Index("ix_runs_cost_usd_run_id", "cost_usd", "run_id"),
)

# Migration 0008: text search, outside the metadata (it cannot declare a virtual table or a
# trigger): on SQLite the FTS5 table `runs_search` (trigram tokenizer, rowid = the run's rowid)
# and its shadow tables, kept by triggers on `runs`; on PostgreSQL pg_trgm GIN indexes on the
# searched texts. Alembic's comparison leaves these names out (migrate.include_name).
SEARCH_TABLE = "runs_search"
SEARCH_INDEXES = ("ix_runs_search_run_id", "ix_runs_search_tags", "ix_runs_search_input")
# Migration 0012, also outside the metadata (expressions): the tags sort's order, on both
# backends, and on PostgreSQL its newest-first order with empty tags last.
# Migration 0017 adds the `input.tasks` field's (as orchestrator.db.json_paths spells it); 0021
# the tokens' (input + output tokens, run_id): the tokens filter and sort.
EXPRESSION_INDEXES = (
    "ix_runs_tags_sort",
    "ix_runs_pg_tags_desc",
    "ix_runs_input_tasks",
    "ix_runs_pg_input_tasks_desc",
    "ix_runs_tokens_run_id",
)
# Migration 0010, PostgreSQL only, also outside the metadata: (column DESC NULLS LAST, run_id
# DESC), the order of the runs page's newest-first sorts on nullable columns.
POSTGRES_SORT_INDEXES = (
    "ix_runs_pg_started_at_desc",
    "ix_runs_pg_finished_at_desc",
    "ix_runs_pg_wall_seconds_desc",
    "ix_runs_pg_work_seconds_desc",
    "ix_runs_pg_worker_desc",
)

run_tasks = Table(
    "run_tasks",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("task_id", String(64), primary_key=True),  # LangGraph's task id
    # The run's attempt that executed it (migration 0006): a retried task keeps each attempt.
    Column("attempt", Integer, primary_key=True, default=1),
    Column("node", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # orchestrator.status.TaskStatus
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    Column("step", Integer),
    # When the task got its concurrency slot and started working (None: at once).
    Column("work_started_at", UTCDateTime),
    Index("ix_run_tasks_node", "node"),
    # Migration 0011: the overview's node figures read the tasks started in its period.
    Index("ix_run_tasks_started_at", "started_at"),
)

# Migration 0015: the answer each of a run's interrupts got (the first one wins: the primary
# key), who gave it and when; written in the same transaction as the run's move on.
run_answers = Table(
    "run_answers",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("interrupt_id", String(64), primary_key=True),  # LangGraph's Interrupt.id
    Column("kind", String(20), nullable=False),  # approve, respond or reject
    Column("answer", JSONType),  # what the graph got (a rejection that cancelled the run: its reason)
    Column("answered_by", String(200)),
    Column("answered_at", UTCDateTime, nullable=False),
)

# Migration 0016: who changed a run's tags or note, when, and from what to what.
run_edits = Table(
    "run_edits",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("by", String(200)),
    Column("field", String(20), nullable=False),  # tags or note
    Column("old", JSONType),
    Column("new", JSONType),
    Index("ix_run_edits_run_id_at", "run_id", "at"),
)


# Migration 0017: every value of a metric a run recorded (orchestrator.record_metric), one row a
# step; the latest value of each name is also on runs.metrics.
run_metrics = Table(
    "run_metrics",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("value", Float, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)


# Migration 0018: what a run's tasks logged (orchestrator.observe), kept per task and attempt,
# bounded per task (the cut marked by a last line saying how many were dropped). Deleted with
# the run (RunStore.delete_run). `level` is logging's number (WARNING = 30).
_LOG_ID = BigInteger().with_variant(Integer, "sqlite")

run_logs = Table(
    "run_logs",
    metadata,
    Column("id", _LOG_ID, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("task_id", String(64), nullable=False),
    Column("node", String(200), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("level", Integer, nullable=False),
    Column("logger", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_run_logs_run_id_id", "run_id", "id"),
    Index("ix_run_logs_run_id_task_id_id", "run_id", "task_id", "id"),
    # Migration 0021: a run's lines from WARNING up, and from ERROR up, in the order written
    # (partial: the few lines at those levels), so a level filter reads them alone.
    *(
        Index(name, "run_id", "id", sqlite_where=text(where), postgresql_where=text(where))
        for name, where in (("ix_run_logs_warnings", "level >= 30"), ("ix_run_logs_errors", "level >= 40"))
    ),
)

# Migration 0018: every chat-model or LLM call made inside a run (LangChain's callbacks), with
# its tokens from the response's usage and its cost from the configured prices (None: no price).
run_model_calls = Table(
    "run_model_calls",
    metadata,
    Column("id", _LOG_ID, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("task_id", String(64)),
    Column("node", String(200)),
    Column("attempt", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("latency_seconds", Float),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("cost_usd", Float),
    Column("error", Text),
    Index("ix_run_model_calls_run_id_id", "run_id", "id"),
    # Migration 0020: a period's latest calls (the overview's most expensive nodes).
    Index("ix_run_model_calls_started_at", "started_at"),
)

# Migration 0018: what each task was given and what it wrote (LangGraph's task stream), bounded
# in size, with the values of secret-named keys redacted (orchestrator.observe.redact).
run_task_io = Table(
    "run_task_io",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("task_id", String(64), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("input", JSONType),
    Column("output", JSONType),
)

# Migration 0007: named input + config per workflow (a team's "assistants").
presets = Table(
    "presets",
    metadata,
    Column("workflow", String(200), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("description", Text),
    Column("input", JSONType),
    Column("config", JSONType),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200)),
)

# Migration 0019: the fields with an expression index the package made (db.field_indexes), and
# the names of those indexes (space-separated; PostgreSQL also has a newest-first one).
field_indexes = Table(
    "field_indexes",
    metadata,
    Column("field", String(400), primary_key=True),
    Column("index_names", String(400), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200)),
)

# Migration 0007: the executors, their heartbeat, and the workflows each can build.
workers = Table(
    "workers",
    metadata,
    Column("worker", String(200), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
    Column("concurrency", Integer, nullable=False),
    Column("running", Integer, nullable=False, default=0),
    Column("workflows", JSONType, nullable=False),
    Column("broken", JSONType),
)

# Migration 0011: the overview's rollup. Every insert, update and delete of a run appends its
# change to `rollup_deltas` (triggers on `runs`, in the same transaction; outside the metadata
# like the search triggers), so no write path can forget it and no two writers update the same
# row. `orchestrator.rollup.compact` folds the deltas into the three rollups, one row per UTC
# day and workflow and (status | duration bin | task-count bin); the overview reads the rollups
# plus the deltas not yet folded. `rollup_bins` holds the bins' lower bounds, so the triggers
# find a value's bin with the same comparison on both backends.
rollup_bins = Table(
    "rollup_bins",
    metadata,
    Column("measure", String(20), primary_key=True),  # "duration" (seconds) or "tasks" (tasks_total)
    Column("bin", Integer, primary_key=True),
    Column("lower", Float, nullable=False),  # the bin is [lower, the next bin's lower)
    Index("ix_rollup_bins_measure_lower", "measure", "lower"),
)

rollup_deltas = Table(
    "rollup_deltas",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False),  # the UTC day of the run's created_at
    Column("workflow", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    # The bins of the run's work and wall time (0014): None until the run has finished.
    Column("work_bin", Integer),
    Column("wall_bin", Integer),
    Column("tasks_bin", Integer, nullable=False),
    Column("runs", Integer, nullable=False),  # +1 for the row as it is now, -1 for as it was
    Column("tasks_completed", Integer, nullable=False),
    Column("tasks_failed", Integer, nullable=False),
    Column("work_seconds", Float),  # signed like `runs`
    Column("wall_seconds", Float),
    Index("ix_rollup_deltas_day", "day"),
)

rollup_status = Table(
    "rollup_status",
    metadata,
    Column("day", Date, primary_key=True),
    Column("workflow", String(200), primary_key=True),
    Column("status", String(20), primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("tasks_completed", BigInteger, nullable=False),
    Column("tasks_failed", BigInteger, nullable=False),
)

# Migration 0014 keyed the durations by `measure`: "work" (work_seconds) or "wall" (wall_seconds).
DURATION_MEASURES = ("work", "wall")

rollup_durations = Table(
    "rollup_durations",
    metadata,
    Column("day", Date, primary_key=True),
    Column("workflow", String(200), primary_key=True),
    Column("measure", String(10), primary_key=True),
    Column("bin", Integer, primary_key=True),
    Column("runs", Integer, nullable=False),
    Column("seconds", Float, nullable=False),  # their durations' sum: each bin's mean is exact
)

rollup_tasks = Table(
    "rollup_tasks",
    metadata,
    Column("day", Date, primary_key=True),
    Column("workflow", String(200), primary_key=True),
    Column("bin", Integer, primary_key=True),
    Column("runs", Integer, nullable=False),
)

# Migration 0013: the node figures' rollup, as the runs' above. Triggers on `run_tasks` append
# every change of a task to `node_deltas`, keyed by the UTC hour it started ('YYYY-MM-DD HH'),
# its run's workflow, its node and the duration bin of its work time (from its work's start to
# its end; since 0014, without its wait for a slot), or NO_WORK_BIN while it has no work time
# (it waits or works still, or it was cancelled before its work began);
# `orchestrator.rollup.compact` folds them per hour (`node_hours`) and per day (`node_days`,
# 'YYYY-MM-DD'). Both keys are text on both backends (SQLite has no date type to cast to).
NO_WORK_BIN = -1

node_deltas = Table(
    "node_deltas",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("hour", String(13), nullable=False),
    Column("workflow", String(200), nullable=False),
    Column("node", String(200), nullable=False),
    Column("bin", Integer, nullable=False),
    Column("tasks", Integer, nullable=False),  # +1 for the row as it is now, -1 for as it was
    Column("failed", Integer, nullable=False),
    Column("seconds", Float, nullable=False),  # signed like `tasks`; 0 while it runs
    Index("ix_node_deltas_hour", "hour"),
)


def _node_rollup(name: str, key: str, length: int, *, workflow: bool = True) -> Table:
    return Table(
        name,
        metadata,
        Column(key, String(length), primary_key=True),
        *([Column("workflow", String(200), primary_key=True)] if workflow else []),
        Column("node", String(200), primary_key=True),
        Column("bin", Integer, primary_key=True),
        Column("tasks", BigInteger, nullable=False),
        Column("failed", BigInteger, nullable=False),
        Column("seconds", Float, nullable=False),
    )


node_hours = _node_rollup("node_hours", "hour", 13)
node_days = _node_rollup("node_days", "day", 10)
# All workflows at once (the overview's default): per node and bin only, a few times fewer rows.
node_hours_all = _node_rollup("node_hours_all", "hour", 13, workflow=False)
node_days_all = _node_rollup("node_days_all", "day", 10, workflow=False)
