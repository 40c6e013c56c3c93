"""The database layer, split by job:

- `schema`: the tables and portable column types;
- `engines`: one engine per backend, connection settings and timeouts, connection errors;
- `dialect`: the SQL spelled differently on SQLite and PostgreSQL;
- `migrate`: Alembic migrations and the set-up locks.

The names below are the layer's public surface; import them from `orchestrator.db`.
"""

from orchestrator.db.dialect import (
    analyze_after_bulk_write,
    bin_index,
    commit_without_waiting,
    db_now,
    dialect_insert,
    grouped_percentiles,
    json_text,
    searchable,
    seconds_between,
    time_bucket,
    upsert,
)
from orchestrator.db.engines import (
    CONNECT_TIMEOUT_SECONDS,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    backend_label,
    check_database,
    describe_connection_error,
    make_engine,
    sqlite_file,
    sqlite_read_only_connection,
    sqlite_read_only_url,
)
from orchestrator.db.migrate import (
    MIGRATIONS_DIR,
    VERSION_TABLE,
    check_schema,
    database_label,
    head_version,
    saver_setup_lock,
    schema_version,
    upgrade_schema,
)
from orchestrator.db.schema import (
    JSONType,
    UTCDateTime,
    metadata,
    presets,
    run_answers,
    run_edits,
    run_logs,
    run_metrics,
    run_model_calls,
    run_task_io,
    run_tasks,
    runs,
    utcnow,
    workers,
)

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "MIGRATIONS_DIR",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "VERSION_TABLE",
    "JSONType",
    "UTCDateTime",
    "analyze_after_bulk_write",
    "backend_label",
    "bin_index",
    "check_database",
    "check_schema",
    "commit_without_waiting",
    "database_label",
    "db_now",
    "describe_connection_error",
    "dialect_insert",
    "grouped_percentiles",
    "head_version",
    "json_text",
    "make_engine",
    "metadata",
    "presets",
    "run_answers",
    "run_edits",
    "run_logs",
    "run_metrics",
    "run_model_calls",
    "run_task_io",
    "run_tasks",
    "runs",
    "saver_setup_lock",
    "schema_version",
    "searchable",
    "seconds_between",
    "sqlite_file",
    "sqlite_read_only_connection",
    "sqlite_read_only_url",
    "time_bucket",
    "upgrade_schema",
    "upsert",
    "utcnow",
    "workers",
]
