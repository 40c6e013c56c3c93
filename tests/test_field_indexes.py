"""A field's expression index made by the package (`orchestrator index add FIELD`): made with the
very expression the read path writes (each database's own plan reads it), known to the
planners within FIELDS_SECONDS, the same runs read with it as without, dropped whole; the CLI's
refusals are one sentence."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, text

from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine
from orchestrator.db.field_indexes import add_field_index, drop_field_index, index_names, indexed_fields
from orchestrator.db.schema import field_indexes
from orchestrator.run_queries import Field, MatchCount, RunFilter, planner
from orchestrator.run_queries.sqlite_planner import SqlitePlanner
from orchestrator.run_queries.statements import portable_page
from orchestrator.runs import RunStore
from tests.in_process_cli import assert_one_error_line, call_cli, database_args
from tests.test_store import full_row

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
# 40 runs, one a minute: metrics.accuracy = i / 40 (0, 0.025, ... 0.975); runs 0-4 recorded none.
FORTY = [
    full_row(
        f"r{i:02d}",
        status="succeeded",
        created_at=T0 + dt.timedelta(minutes=i),
        metrics=None if i < 5 else {"accuracy": i / 40},
    )
    for i in range(40)
]
BEST = RunFilter(where=["metrics.accuracy >= 0.9"])  # r36 .. r39, written by hand
BEST_IDS = ["r39", "r38", "r37", "r36"]


def plan_text(engine: Engine, f: RunFilter, sort: str) -> str:
    """The database's plan for a page of `f` sorted by `sort`, newest first (PostgreSQL told to
    avoid a sequential scan where it can: at 40 rows it would rather read the table)."""
    stmt = portable_page(f, Field(sort), True, 50, 0)
    with engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            rows = conn.exec_driver_sql(f"EXPLAIN {compiled}").scalars()
        else:
            rows = (row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
        return "\n".join(rows)


def catalog_indexes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = text("SELECT indexname FROM pg_indexes WHERE tablename = 'runs'")
        else:
            query = text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs'")
        return set(conn.scalars(query))


def test_a_fields_index_is_read_by_each_databases_plan_and_reads_the_same_runs(store: RunStore) -> None:
    store.insert_many(FORTY)
    engine = store.engine
    without = store.page_runs(BEST, limit=50)
    sorted_without = [r["run_id"] for r in store.page_runs(RunFilter(), sort="metrics.accuracy", limit=6)]
    names = index_names("metrics.accuracy", engine.dialect.name)
    assert not any(name in plan_text(engine, BEST, "created_at") for name in names)

    assert add_field_index(engine, "metrics.accuracy", "metrics", ("accuracy",), by="test")
    assert not add_field_index(engine, "metrics.accuracy", "metrics", ("accuracy",), by="test")
    assert set(names) <= catalog_indexes(engine)
    with engine.connect() as conn:
        assert indexed_fields(conn) == {"input.tasks", "metrics.accuracy"}
    assert any(name in plan_text(engine, BEST, "metrics.accuracy") for name in names)  # filter, sort
    if engine.dialect.name == "postgresql":
        assert names[1] in plan_text(engine, RunFilter(), "metrics.accuracy")  # newest first, nulls last
    store.forget_plans()
    assert (
        [r["run_id"] for r in store.page_runs(BEST, limit=50)] == BEST_IDS == [r["run_id"] for r in without]
    )
    assert store.count_matching(BEST) == MatchCount(4, exact=True)
    # best first; the runs without the metric last
    assert (
        [r["run_id"] for r in store.page_runs(RunFilter(), sort="metrics.accuracy", limit=6)]
        == (sorted_without)
        == ["r39", "r38", "r37", "r36", "r35", "r34"]
    )

    assert drop_field_index(engine, "metrics.accuracy")
    assert not drop_field_index(engine, "metrics.accuracy")
    assert not set(names) & catalog_indexes(engine)
    with engine.connect() as conn:
        assert indexed_fields(conn) == {"input.tasks"}
    assert [r["run_id"] for r in store.page_runs(BEST, limit=50)] == BEST_IDS


def test_the_planner_leads_with_an_indexed_field_once_it_has_read_that_it_is(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's planner probes a field's filter only where the field is indexed, and reads which
    fields are at most every FIELDS_SECONDS (its clock driven here)."""
    if not isinstance(store.planner, SqlitePlanner):
        pytest.skip("PostgreSQL's own planner finds a new index itself; only SQLite's leads are ours")
    clock = [1000.0]
    monkeypatch.setattr(planner, "monotonic", lambda: clock[0])
    store.insert_many(FORTY)
    f = RunFilter(statuses=["succeeded"], where=["metrics.accuracy >= 0.9"])
    with store.engine.connect() as conn:
        assert store.planner.choose_lead(conn, f).name == "status"  # the field is not probed
    add_field_index(store.engine, "metrics.accuracy", "metrics", ("accuracy",), by="test")
    with store.engine.connect() as conn:
        assert store.planner.choose_lead(conn, f).name == "status"  # not read again yet
        clock[0] += planner.FIELDS_SECONDS
        lead = store.planner.choose_lead(conn, f)
    assert (lead.name, lead.probes[lead.name]) == ("metrics.accuracy >= 0.9", 4)
    assert [r["run_id"] for r in store.page_runs(f, limit=50)] == BEST_IDS
    assert store.count_matching(f) == MatchCount(4, exact=True)


def test_the_index_command_adds_lists_and_drops_and_refuses_in_one_sentence(
    config: OrchestratorConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = database_args(config)
    assert call_cli(*db, "index", "list").out.split() == ["input.tasks"]
    added = call_cli(*db, "index", "add", "state.summary.total")
    assert (added.code, added.out.strip()) == (0, "state.summary.total: indexed")
    assert (
        call_cli(*db, "index", "add", "state.summary.total").out.strip()
        == "state.summary.total: already indexed"
    )
    assert call_cli(*db, "index", "list", "--json").out.split() == [
        "[",
        '"input.tasks",',
        '"state.summary.total"',
        "]",
    ]
    assert_one_error_line(call_cli(*db, "index", "add", "status"), "Unknown field")
    assert_one_error_line(call_cli(*db, "index", "add", "input.a;drop"), "not a path of keys")
    assert_one_error_line(call_cli(*db, "index", "add"), "needs a field")
    monkeypatch.setenv("ORCHESTRATOR_READ_ONLY", "true")
    assert_one_error_line(call_cli(*db, "index", "drop", "state.summary.total"), "read-only")
    monkeypatch.delenv("ORCHESTRATOR_READ_ONLY")
    assert (
        call_cli(*db, "index", "drop", "state.summary.total").out.strip()
        == "state.summary.total: index dropped"
    )
    engine = make_engine(config)
    try:
        assert not set(index_names("state.summary.total", engine.dialect.name)) & catalog_indexes(engine)
    finally:
        engine.dispose()


def test_the_fields_table_lists_input_tasks_from_its_migration(store: RunStore) -> None:
    with store.engine.connect() as conn:
        rows = conn.execute(select(field_indexes.c.field, field_indexes.c.index_names)).all()
    names = rows[0].index_names.split()
    assert [r.field for r in rows] == ["input.tasks"] and set(names) <= catalog_indexes(store.engine)
