"""Schema migrations: one head, and an old database (first migration only) upgrades in place."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select

from orchestrator.db import (
    MIGRATIONS_DIR,
    VERSION_TABLE,
    JSONType,
    UTCDateTime,
    head_version,
    make_engine,
    metadata,
    run_tasks,
    runs,
    schema_version,
    upgrade_schema,
)
from orchestrator.db.migrate import alembic_config, include_name
from orchestrator.db.schema import EXPRESSION_INDEXES, POSTGRES_SORT_INDEXES, SEARCH_INDEXES
from orchestrator.run_queries import RunFilter
from orchestrator.runs import RunStore

# About setting a database up: each test starts from an empty one (tests/conftest.py).
pytestmark = pytest.mark.empty_database

FIRST = "0001"
UTC = dt.UTC

# `runs` and `run_tasks` as migration 0001 created them (the columns an old database has).
old_metadata = MetaData()
runs_0001 = Table(
    "runs",
    old_metadata,
    Column("run_id", String(64), primary_key=True),
    Column("workflow", String(200)),
    Column("status", String(20)),
    Column("created_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("tasks_total", Integer),
    Column("tasks_completed", Integer),
    Column("tasks_failed", Integer),
    Column("input", JSONType),
    Column("state_snapshot", JSONType),
    Column("error", Text),
    Column("tags", JSONType),
    Column("heartbeat_at", UTCDateTime),
    Column("worker", String(200)),
)
run_tasks_0001 = Table(
    "run_tasks",
    old_metadata,
    Column("run_id", String(64), primary_key=True),
    Column("task_id", String(64), primary_key=True),
    Column("node", String(200)),
    Column("status", String(20)),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    Column("step", Integer),
)
COLUMNS_ADDED_AFTER_0001 = {"cancel_requested", "resume_value", "rerun_of"}

OLD_RUN = {
    "run_id": "old-run-1",
    "workflow": "simulate",
    "status": "succeeded",
    "created_at": dt.datetime(2023, 11, 5, 8, 30, 15, 123456, tzinfo=UTC),
    "started_at": dt.datetime(2023, 11, 5, 8, 30, 16, 1, tzinfo=UTC),
    "finished_at": dt.datetime(2023, 11, 5, 8, 31, 0, 999999, tzinfo=UTC),
    "tasks_total": 3,
    "tasks_completed": 2,
    "tasks_failed": 1,
    "input": {"topic": "héllo ✓ 日本", "nested": {"n": [1, None, "x"]}},
    "state_snapshot": {"messages": ["a", "b"], "done": True},
    "error": "node b raised",
    "tags": ["legacy", "ünï"],
    "heartbeat_at": dt.datetime(2023, 11, 5, 8, 30, 59, tzinfo=UTC),
    "worker": "host-1:123",
}
OLD_TASK = {
    "run_id": "old-run-1",
    "task_id": "task-a",
    "node": "plan",
    "status": "succeeded",
    "started_at": dt.datetime(2023, 11, 5, 8, 30, 16, 500000, tzinfo=UTC),
    "finished_at": dt.datetime(2023, 11, 5, 8, 30, 20, tzinfo=UTC),
    "error": None,
    "step": 1,
}


@pytest.fixture
def bare_engine(config):
    """An engine on the test's empty database, with no migration applied yet."""
    engine = make_engine(config)
    yield engine
    engine.dispose()


def column_names(engine, table: str) -> set[str]:
    """The table's columns, but PostgreSQL's fields' number columns (made at run time, as the
    fields' indexes are: db.field_indexes)."""
    found = {c["name"] for c in sqlalchemy.inspect(engine).get_columns(table)}
    return {name for name in found if include_name(name, "column", {})}


def index_names(engine, table: str) -> set[str]:
    """The table's indexes, but those outside the metadata (0008's search, 0010's, 0012's; tested apart)."""
    found = {i["name"] for i in sqlalchemy.inspect(engine).get_indexes(table)}
    found = {name for name in found if include_name(name, "index", {})}  # the fields' (made at run time)
    return found - set(SEARCH_INDEXES) - set(POSTGRES_SORT_INDEXES) - set(EXPRESSION_INDEXES)


def old_database(engine) -> None:
    """A database as the first release left it: migration 0001 and one run with one task."""
    upgrade_schema(engine, FIRST)
    with engine.begin() as conn:
        conn.execute(insert(runs_0001), [OLD_RUN])
        conn.execute(insert(run_tasks_0001), [OLD_TASK])


def test_migrations_have_exactly_one_head():
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    heads = script.get_heads()
    assert len(heads) == 1
    assert heads == [head_version()]
    # A straight line from the head down to the first migration.
    chain = [rev.revision for rev in script.walk_revisions()]
    assert chain[-1] == FIRST
    assert len(chain) == len(set(chain))
    for rev in script.walk_revisions():
        assert not rev.is_merge_point


def test_fresh_database_has_no_schema_version(bare_engine):
    assert schema_version(bare_engine) is None


def test_first_migration_creates_the_old_schema(bare_engine):
    upgrade_schema(bare_engine, FIRST)
    assert schema_version(bare_engine) == FIRST
    assert column_names(bare_engine, "runs") == {c.name for c in runs_0001.columns}
    assert column_names(bare_engine, "run_tasks") == {c.name for c in run_tasks_0001.columns}


def test_upgrade_from_first_migration_keeps_rows_and_adds_columns(bare_engine):
    old_database(bare_engine)
    upgrade_schema(bare_engine)
    assert schema_version(bare_engine) == head_version()
    assert column_names(bare_engine, "runs") >= COLUMNS_ADDED_AFTER_0001

    store = RunStore(bare_engine)
    run = store.get_run(OLD_RUN["run_id"])
    assert run is not None
    for key, value in OLD_RUN.items():
        assert run[key] == value, key
    assert run["cancel_requested"] is False
    assert run["resume_value"] is None
    assert run["rerun_of"] is None
    # 08:30:16.000001 to 08:31:00.999999, computed by the migrations' SQL: exact, not rounded up.
    assert run["wall_seconds"] == pytest.approx(44.999998, abs=2e-7)
    # 0014's backfill: its one attempt's one task worked from 08:30:16.5 to 08:30:20.
    assert run["work_seconds"] == pytest.approx(3.5, abs=1e-9)


def test_upgrade_from_first_migration_keeps_task_rows(bare_engine, backend, request):
    old_database(bare_engine)
    upgrade_schema(bare_engine)
    tasks = RunStore(bare_engine).get_tasks(OLD_RUN["run_id"])
    assert len(tasks) == 1
    for key, value in OLD_TASK.items():
        assert tasks[0][key] == value, key


def test_upgraded_schema_matches_the_package_tables(bare_engine):
    old_database(bare_engine)
    upgrade_schema(bare_engine)
    for table in (runs, run_tasks):
        assert column_names(bare_engine, table.name) == {c.name for c in table.columns}
        assert index_names(bare_engine, table.name) == {i.name for i in table.indexes}
    assert {t for t in metadata.tables} <= set(sqlalchemy.inspect(bare_engine).get_table_names())


def test_upgraded_database_accepts_new_runs_with_defaults(bare_engine):
    old_database(bare_engine)
    upgrade_schema(bare_engine)
    store = RunStore(bare_engine)
    run_id = store.create_run("simulate", {"tasks": 1}, rerun_of=OLD_RUN["run_id"])
    run = store.get_run(run_id)
    assert run["cancel_requested"] is False
    assert run["rerun_of"] == OLD_RUN["run_id"]
    assert store.update_run(OLD_RUN["run_id"], cancel_requested=True, resume_value={"ok": "ja ✓"})
    old = store.get_run(OLD_RUN["run_id"])
    assert old["cancel_requested"] is True
    assert old["resume_value"] == {"ok": "ja ✓"}


def test_upgrading_twice_is_a_no_op(bare_engine):
    old_database(bare_engine)
    upgrade_schema(bare_engine)
    inspector_before = (
        column_names(bare_engine, "runs"),
        index_names(bare_engine, "runs"),
        column_names(bare_engine, "run_tasks"),
    )
    with bare_engine.connect() as conn:
        rows_before = [tuple(r) for r in conn.execute(select(runs).order_by(runs.c.run_id))]
    upgrade_schema(bare_engine)
    upgrade_schema(bare_engine, head_version())
    assert schema_version(bare_engine) == head_version()
    assert (
        column_names(bare_engine, "runs"),
        index_names(bare_engine, "runs"),
        column_names(bare_engine, "run_tasks"),
    ) == inspector_before
    with bare_engine.connect() as conn:
        rows_after = [tuple(r) for r in conn.execute(select(runs).order_by(runs.c.run_id))]
        versions = conn.execute(sqlalchemy.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    assert rows_after == rows_before
    assert versions == [(head_version(),)]


def test_fresh_database_upgrades_straight_to_head(bare_engine):
    upgrade_schema(bare_engine)
    assert schema_version(bare_engine) == head_version()
    assert column_names(bare_engine, "runs") >= COLUMNS_ADDED_AFTER_0001


def downgrade_step_by_step(engine) -> list[str | None]:
    """Undo the migrations one at a time down to none; the schema version after each step."""
    versions = []
    while schema_version(engine) is not None:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":  # as upgrade_schema: no cascade while tables are rebuilt
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            with conn.begin():
                command.downgrade(alembic_config(conn), "-1")
        versions.append(schema_version(engine))
    return versions


@pytest.mark.parametrize("start", ["fresh", "first release", "downgraded to nothing"])
def test_migrated_schema_equals_the_package_tables(bare_engine, start):
    """Alembic's own comparison of the migrated database with `orchestrator.db.metadata`:
    tables, columns, their types and nullability, indexes and foreign keys."""
    if start == "first release":
        old_database(bare_engine)
    if start == "downgraded to nothing":
        # Every migration's downgrade runs, one at a time, and the upgrade after them still
        # gives the package's tables.
        upgrade_schema(bare_engine)
        versions = downgrade_step_by_step(bare_engine)
        assert versions[-1] is None and len(versions) == len(
            list(ScriptDirectory.from_config(alembic_config(bare_engine)).walk_revisions())
        )
        assert set(sqlalchemy.inspect(bare_engine).get_table_names()) == {VERSION_TABLE}
    upgrade_schema(bare_engine)
    with bare_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE, "include_name": include_name}
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_migrations_do_not_import_the_package():
    """A migration keeps meaning what it meant: it spells out its types and SQL itself."""
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        source = path.read_text()
        assert "from orchestrator" not in source and "import orchestrator" not in source, path.name


def test_search_index_is_built_and_kept_with_the_runs(bare_engine):
    """0008 backfills the search index from the runs there, and keeps it with every write after."""
    old_database(bare_engine)
    upgrade_schema(bare_engine)
    if bare_engine.dialect.name == "sqlite":
        with bare_engine.connect() as conn:
            triggers = set(
                conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars()
            )
        assert {"runs_search_insert", "runs_search_update", "runs_search_delete"} <= triggers
        with bare_engine.connect() as conn:
            indexes = set(
                conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'").scalars()
            )
        assert "ix_runs_tags_sort" in indexes
    else:
        found = {i["name"] for i in sqlalchemy.inspect(bare_engine).get_indexes("runs")}
        assert set(SEARCH_INDEXES) | set(POSTGRES_SORT_INDEXES) | set(EXPRESSION_INDEXES) <= found
    store = RunStore(bare_engine)
    assert [r["run_id"] for r in store.page_runs(RunFilter(text=OLD_RUN["run_id"][2:12].upper()))] == [
        OLD_RUN["run_id"]
    ]
    run_id = store.create_run("simulate", {"note": "Crème brûlée"}, tags=["blue-moon"])
    assert [r["run_id"] for r in store.page_runs(RunFilter(text="e-MOO"))] == [run_id]
    assert store.update_run(run_id, tags=["red-sun"])
    assert store.count_matching(RunFilter(text="blue-moon")).value == 0
    assert store.count_matching(RunFilter(text="red-sun")).value == 1
    assert store.count_matching(RunFilter(text="me br")).value == 1
    assert store.count_matching(RunFilter(text='["red')).value == 1  # a quote inside the FTS5 phrase
    assert store.delete_run(run_id)
    assert store.count_matching(RunFilter(text="red-sun")).value == 0


def _at(hour: int, minute: int, second: float) -> dt.datetime:
    whole = int(second)
    return dt.datetime(2026, 3, 2, hour, minute, whole, round((second - whole) * 1_000_000), tzinfo=UTC)


# Runs and tasks as a database at 0013 held them (one duration, `duration_seconds`; no work time).
RUNS_0013 = Table(
    "runs",
    MetaData(),
    *(Column(name, String(64)) for name in ("run_id", "workflow", "status")),
    *(Column(name, UTCDateTime) for name in ("created_at", "started_at", "finished_at")),
    Column("duration_seconds", sqlalchemy.Float),
    Column("attempt", Integer),
)
TASKS_0013 = Table(
    "run_tasks",
    MetaData(),
    *(Column(name, String(64)) for name in ("run_id", "task_id", "node", "status")),
    Column("attempt", Integer),
    *(Column(name, UTCDateTime) for name in ("started_at", "work_started_at", "finished_at")),
)


def test_0014_keeps_work_apart_from_wall_time_and_rebuilds_the_rollups(bare_engine):
    """A database made by the previous version: each run's work time from its attempts' tasks, the
    node figures from each task's work (its wait for a slot left out). Expectations by hand."""
    upgrade_schema(bare_engine, "0013")
    runs_at = [
        # a: one attempt; work2 waited a second for its slot.
        ("a", "succeeded", _at(10, 0, 0), _at(10, 0, 10), 10.0, 1),
        # b: failed, resumed 14 minutes later: two attempts of 2 s and 1 s.
        ("b", "succeeded", _at(11, 0, 0), _at(11, 14, 1.5), 841.5, 2),
        # c: waits for a person after 4 s of work; not finished, so no duration yet.
        ("c", "awaiting_input", _at(12, 0, 0), None, None, 1),
        # d: cancelled with no task recorded: it worked its wall time.
        ("d", "cancelled", _at(13, 0, 0), _at(13, 0, 5), 5.0, 1),
    ]
    tasks_at = [
        ("a", "p", "plan", "succeeded", 1, _at(10, 0, 0), None, _at(10, 0, 0.5)),
        ("a", "w1", "work", "succeeded", 1, _at(10, 0, 0.5), _at(10, 0, 0.5), _at(10, 0, 1.5)),
        ("a", "w2", "work", "succeeded", 1, _at(10, 0, 0.5), _at(10, 0, 1.5), _at(10, 0, 2.5)),
        ("a", "s", "summarize", "succeeded", 1, _at(10, 0, 2.5), None, _at(10, 0, 3)),
        ("b", "w1", "work", "failed", 1, _at(11, 0, 0), _at(11, 0, 0), _at(11, 0, 2)),
        ("b", "w1", "work", "succeeded", 2, _at(11, 14, 0), _at(11, 14, 0), _at(11, 14, 1)),
        ("c", "q", "ask", "interrupted", 1, _at(12, 0, 0), None, _at(12, 0, 4)),
    ]
    with bare_engine.begin() as conn:
        run_keys = ("run_id", "status", "started_at", "finished_at", "duration_seconds", "attempt")
        conn.execute(
            insert(RUNS_0013),
            [
                {**dict(zip(run_keys, row, strict=True)), "workflow": "wf", "created_at": row[2]}
                for row in runs_at
            ],
        )
        task_keys = (
            "run_id",
            "task_id",
            "node",
            "status",
            "attempt",
            "started_at",
            "work_started_at",
            "finished_at",
        )
        conn.execute(insert(TASKS_0013), [dict(zip(task_keys, row, strict=True)) for row in tasks_at])
    upgrade_schema(bare_engine)
    store = RunStore(bare_engine)
    got = {r["run_id"]: (r["work_seconds"], r["wall_seconds"]) for r in store.get_runs(["a", "b", "c", "d"])}
    # c has not finished: its wall time is still growing (read as of now), its stored one unset.
    assert got.pop("c")[0] == pytest.approx(4.0)
    assert got == {
        "a": pytest.approx((3.0, 10.0)),
        "b": pytest.approx((3.0, 841.5)),
        "d": pytest.approx((5.0, 5.0)),
    }
    with bare_engine.connect() as conn:
        assert conn.execute(select(runs.c.wall_seconds).where(runs.c.run_id == "c")).scalar_one() is None
    with bare_engine.connect() as conn:
        by_node = dict(
            conn.execute(
                sqlalchemy.text("SELECT node, sum(seconds) FROM node_hours GROUP BY node ORDER BY node")
            ).all()
        )
        durations = conn.execute(
            sqlalchemy.text(
                "SELECT measure, count(*), sum(runs), sum(seconds) FROM rollup_durations GROUP BY measure"
            )
        ).all()
    # work: 1 s each, not 2 s for the task that waited; b's two work tasks 2 s and 1 s.
    assert by_node == pytest.approx({"ask": 4.0, "plan": 0.5, "summarize": 0.5, "work": 5.0})
    # The finished runs a, b, d: their work 3 + 3 + 5, their wall time 10 + 841.5 + 5.
    assert {m: (runs_, seconds) for m, _, runs_, seconds in durations} == {
        "work": (3, pytest.approx(11.0)),
        "wall": (3, pytest.approx(856.5)),
    }
