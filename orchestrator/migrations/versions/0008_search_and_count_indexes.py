"""Text search by index, and indexes for a status with a task-count range.

Why (figures from `python -m bench` at 100,000 runs; at a million each is about 10x):
- The runs page's text search (run id, tags, input; any case, any part of the text) read
  every row's JSON: 85 ms on SQLite and 120 ms on PostgreSQL for a text found nowhere.
  - SQLite: an FTS5 table `runs_search` with the trigram tokenizer (substring match of three
    characters or more), its rowid that of the run, kept by triggers on `runs` in the same
    transaction as every insert, update and delete of a run, and backfilled here.
    A later migration that rebuilds `runs` (batch mode) drops these triggers and renumbers
    rowids: it must create them again and rebuild `runs_search`, as this one does.
  - PostgreSQL: pg_trgm GIN indexes on the three texts the search compares, which serve its
    `x ILIKE '%text%'` as it is. Where the role may not create the pg_trgm
    extension, the indexes are left out and search works as before, by reading the rows.
- A status with a task-count range (every count range with every status, on the page and in
  its count) read each row of the range for its status: (status, tasks_*) answers it from the
  index alone.

These objects are not in `orchestrator.db.metadata` (it cannot declare a virtual table or a
trigger); `orchestrator.db.migrate.include_name` leaves them out of Alembic's comparison.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COUNT_INDEXES = {
    "ix_runs_status_tasks_total": ["status", "tasks_total"],
    "ix_runs_status_tasks_completed": ["status", "tasks_completed"],
    "ix_runs_status_tasks_failed": ["status", "tasks_failed"],
}

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE runs_search USING fts5(run_id, tags, input, tokenize = 'trigram')",
    "INSERT INTO runs_search (rowid, run_id, tags, input) SELECT rowid, run_id, tags, input FROM runs",
    """CREATE TRIGGER runs_search_insert AFTER INSERT ON runs BEGIN
         INSERT INTO runs_search (rowid, run_id, tags, input)
         VALUES (new.rowid, new.run_id, new.tags, new.input);
       END""",
    """CREATE TRIGGER runs_search_update AFTER UPDATE OF run_id, tags, input ON runs BEGIN
         UPDATE runs_search SET run_id = new.run_id, tags = new.tags, input = new.input
         WHERE rowid = old.rowid;
       END""",
    """CREATE TRIGGER runs_search_delete AFTER DELETE ON runs BEGIN
         DELETE FROM runs_search WHERE rowid = old.rowid;
       END""",
]

PG_SEARCH_INDEXES = {
    "ix_runs_search_run_id": "run_id",
    "ix_runs_search_tags": "(CAST(tags AS TEXT))",
    "ix_runs_search_input": "(CAST(input AS TEXT))",
}


def _pg_trgm_available(bind: sa.Connection) -> bool:
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar():
        return True
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return False  # not allowed for this role: search stays a scan (see the docstring)
    return True


def upgrade() -> None:
    for name, columns in COUNT_INDEXES.items():
        op.create_index(name, "runs", columns)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    elif _pg_trgm_available(bind):
        for name, expression in PG_SEARCH_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON runs USING gin ({expression} gin_trgm_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("runs_search_insert", "runs_search_update", "runs_search_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS runs_search")
    else:
        for name in PG_SEARCH_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    for name in COUNT_INDEXES:
        op.drop_index(name, table_name="runs")
