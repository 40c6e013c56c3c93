"""Indexes that hold the runs page's order to the last key, so a deep page or a tags sort skips
rows on the index alone.

Why (python -m bench, 1,000,000 runs): the page's order ends with its tie-break, run_id. The
indexes that lead with created_at, alone or after a status, workflow or launched_by, did not
hold run_id, so every row a page skipped was read from the table for it: offset 100,000 took
0.21 s (SQLite) and 0.35 s (PostgreSQL). Sorting by tags had no index at all: every run was
read and sorted, 0.12 s and 0.41 s. With run_id in each index and an index on the tags' text,
SQLite skipped 100,000 rows in 4 ms and sorted by tags in under 0.1 ms.

- `ix_runs_overview` becomes (created_at, run_id, then the overview's columns): it still covers
  the overview's reads of a period.
- `ix_runs_status_created_at`, `ix_runs_workflow_created_at` and `ix_runs_launched_by_created_at`
  gain run_id.
- `ix_runs_tags_sort`: (CAST(tags AS TEXT), run_id), the tags sort's order; on PostgreSQL also
  `ix_runs_pg_tags_desc` for its newest-first order with empty tags last (see 0010). These two
  are expressions the metadata does not declare (schema.EXPRESSION_INDEXES), as in 0008.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OVERVIEW = ("workflow", "status", "duration_seconds", "tasks_total", "tasks_completed", "tasks_failed")
BEFORE = {
    "ix_runs_overview": ("created_at", *OVERVIEW),
    "ix_runs_status_created_at": ("status", "created_at"),
    "ix_runs_workflow_created_at": ("workflow", "created_at"),
    "ix_runs_launched_by_created_at": ("launched_by", "created_at"),
}
AFTER = {
    "ix_runs_overview": ("created_at", "run_id", *OVERVIEW),
    "ix_runs_status_created_at": ("status", "created_at", "run_id"),
    "ix_runs_workflow_created_at": ("workflow", "created_at", "run_id"),
    "ix_runs_launched_by_created_at": ("launched_by", "created_at", "run_id"),
}


def _replace(indexes: dict[str, tuple[str, ...]]) -> None:
    for name, columns in indexes.items():
        op.drop_index(name, table_name="runs")
        op.create_index(name, "runs", list(columns))


def upgrade() -> None:
    _replace(AFTER)
    op.execute("CREATE INDEX ix_runs_tags_sort ON runs ((CAST(tags AS TEXT)), run_id)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_runs_pg_tags_desc ON runs ((CAST(tags AS TEXT)) DESC NULLS LAST, run_id DESC)"
        )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_runs_pg_tags_desc")
    op.execute("DROP INDEX IF EXISTS ix_runs_tags_sort")
    _replace(BEFORE)
