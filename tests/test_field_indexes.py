"""A field's expression index made by the package (`orchestrator index add FIELD`): made with the
very expression the read path writes (each database's own plan reads it), known to the
planners within FIELDS_SECONDS, the same runs read with it as without, dropped whole; the CLI's
refusals are one sentence."""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, Index, MetaData, event, func, select, text, update
from sqlalchemy.schema import DropIndex

from orchestrator.config import OrchestratorConfig
from orchestrator.db import field_indexes as field_indexes_module
from orchestrator.db import make_engine, runs, upgrade_schema
from orchestrator.db.field_indexes import (
    add_field_index,
    complete_field_indexes,
    drop_field_index,
    index_names,
    indexed_fields,
    number_column_name,
    number_index_name,
    number_indexed_fields,
)
from orchestrator.db.schema import field_indexes
from orchestrator.run_queries import Field, MatchCount, RunFilter, planner, postgres_planner, sqlite_planner
from orchestrator.run_queries.postgres_planner import PostgresPlanner
from orchestrator.run_queries.sqlite_planner import SqlitePlanner
from orchestrator.run_queries.statements import portable_page
from orchestrator.runs import RunStore
from tests.helpers import wait_for
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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # only SQLite's planner is ours to test here
def test_the_planner_leads_with_an_indexed_field_once_it_has_read_that_it_is(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's planner probes a field's filter only where the field is indexed, and reads which
    fields are at most every FIELDS_SECONDS (its clock driven here)."""
    assert isinstance(store.planner, SqlitePlanner)
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


# Runs whose input.x holds every kind of value: a numeric filter matches the numbers alone (a
# boolean is stored as 1 / 0 by SQLite's json_extract, a text sorts above every number there).
KINDS: list[Any] = [0, 1, 2.5, -3, 7, 1000, True, False, "5", "abc", None, {"a": 1}, [1], MISSING := object()]
MIXED = [
    full_row(
        f"m{i:02d}",
        status="failed" if i % 3 == 0 else "succeeded",
        created_at=T0 + dt.timedelta(minutes=i),
        input={} if kind is MISSING else {"x": kind},
    )
    for i, kind in enumerate(KINDS * 2)
]
NUMERIC = [
    "input.x >= 1",
    "input.x = 1",
    "input.x < 5",
    "input.x > -1",
    "input.x <= 0",
    "input.x = 2.5",
    "input.x != 1",
]


def expected(test: str, statuses: list[str]) -> list[str]:
    """The runs a numeric filter matches, newest first, worked out here from the rows."""
    _, op, raw = test.split()
    value = float(raw)
    compare = {
        ">=": float.__ge__,
        "=": float.__eq__,
        "<": float.__lt__,
        ">": float.__gt__,
        "<=": float.__le__,
        "!=": float.__ne__,
    }[op]
    found = [
        row["run_id"]
        for row in MIXED
        if "x" in row["input"]
        and type(row["input"]["x"]) in (int, float)
        and compare(float(row["input"]["x"]), value)
        and (not statuses or row["status"] in statuses)
    ]
    return sorted(found, reverse=True)


def reads(store: RunStore, f: RunFilter) -> tuple[list[str], MatchCount, MatchCount]:
    store.forget_plans()
    ids = [r["run_id"] for r in store.page_runs(f, limit=50)]
    return ids, store.count_matching(f), store.count_matching(f, cap=None)


def sorted_reads(store: RunStore, f: RunFilter) -> list[list[str]]:
    """The page sorted by the filter's own field, each way (PostgreSQL orders on its number column)."""
    store.forget_plans()
    return [
        [r["run_id"] for r in store.page_runs(f, sort="input.x", descending=descending, limit=50)]
        for descending in (False, True)
    ]


@pytest.mark.parametrize("statuses", [[], ["failed"]])
def test_a_numeric_filter_reads_the_same_runs_with_the_number_index_as_without(
    store: RunStore, statuses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Numbers only, whatever else the field holds, on every SQLite plan that reads the number
    index (read whole, ids first, in the sort's order, a count's budget) and on PostgreSQL."""
    store.insert_many(MIXED)
    filters = [RunFilter(statuses=statuses, where=[test]) for test in NUMERIC]
    without = {f: reads(store, f) for f in filters}
    sorted_without = {f: sorted_reads(store, f) for f in filters}
    for f in filters:
        ids, capped, exact = without[f]
        assert ids == expected(str(f.where[0]), statuses)
        assert capped == exact == MatchCount(len(ids), exact=True)

    assert add_field_index(store.engine, "input.x", "input", ("x",), by="test")
    store = RunStore(store.engine)  # a new planner reads the indexed fields now
    sqlite = store.engine.dialect.name == "sqlite"
    for f in filters:
        assert reads(store, f) == without[f], f
        assert sorted_reads(store, f) == sorted_without[f], f
        with store.engine.connect() as conn:
            lead = store.planner.choose_lead(conn, f)
        # Read on the number index (SQLite: where it may lead; PostgreSQL: any numeric comparison).
        leads = str(f.where[0]).split()[1] in planner.LEADING_OPERATORS
        assert lead.numbers == ({str(f.where[0])} if leads or not sqlite else set()), f
    if sqlite:
        # Each plan in turn: thresholds small enough that a handful of runs is "broad".
        for name, value in (("WHOLE", 0), ("NARROW", 1), ("RANK", 2), ("SAMPLE", 2)):
            monkeypatch.setattr(sqlite_planner, name, value)
            for f in filters:
                ids, _, exact = reads(store, f)
                assert (ids, exact) == (without[f][0], without[f][2]), (name, f)
        monkeypatch.setattr(planner, "COUNT_BUDGET", 1)
        two = RunFilter(where=["input.x >= 0", "input.x < 1000"])
        assert reads(store, two)[0] == [
            r for r in expected("input.x >= 0", []) if r in expected("input.x < 1000", [])
        ]


# 40 runs, one a minute: input.tasks = i, metrics.accuracy spread over them (i * 7 % 40 / 40).
PAIRS = [
    full_row(
        f"p{i:02d}",
        created_at=T0 + dt.timedelta(minutes=i),
        input={"tasks": i},
        metrics={"accuracy": i * 7 % 40 / 40},
    )
    for i in range(40)
]
TWO = RunFilter(where=["input.tasks >= 15", "metrics.accuracy > 0.4"])  # 25 and 23 runs, 16 with both


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # only SQLite's planner is ours to test here
def test_two_broad_fields_are_counted_once_on_their_number_indexes_and_read_the_runs_they_mean(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two fields, each on its number index and broader than WHOLE: each is counted once, up to
    WHOLE (no further: past it both are broad), then both are sampled; every read finds the runs
    a Python reference does, and a count within its budget (FIELD_BUDGET of it: the other field
    is tested on each row) says "at least" with as many as its lead's first runs hold."""
    store.insert_many(PAIRS)
    add_field_index(store.engine, "metrics.accuracy", "metrics", ("accuracy",), by="test")
    store = RunStore(store.engine)
    assert isinstance(store.planner, SqlitePlanner)
    want = sorted(
        (r["run_id"] for r in PAIRS if r["input"]["tasks"] >= 15 and r["metrics"]["accuracy"] > 0.4),
        reverse=True,
    )
    assert len(want) == 16
    for name, value in (("WHOLE", 2), ("NARROW", 4), ("RANK", 12), ("SAMPLE", 5)):
        monkeypatch.setattr(sqlite_planner, name, value)
    counted: list[tuple[str, Any]] = []
    with store.engine.connect() as conn:
        store.planner._fields.get(conn)  # the indexed fields read first, apart
        event.listen(conn, "before_cursor_execute", lambda *args: counted.append((args[2], args[3])))
        lead = store.planner.choose_lead(conn, TWO)
    assert len(counted) == 2, counted  # one probe of both, one sample of both
    # each probed up to WHOLE (NARROW here, the larger) + 1, not RANK + 1
    assert 5 in counted[0][1] and 13 not in counted[0][1], counted[0]
    assert lead.numbers == set(TWO.parts()) and lead.name in lead.numbers
    assert dict(lead.probes) == {name: 13 for name in TWO.parts()}  # broad, each: ranked past RANK
    ids, capped, exact = reads(store, TWO)
    assert ids == want and capped == exact == MatchCount(16, exact=True)
    # Within a budget of the lead's runs (its lowest values), FIELD_BUDGET of COUNT_BUDGET with a
    # field to test: as many as match among them.
    monkeypatch.setattr(planner, "COUNT_BUDGET", 12)
    store.forget_plans()
    with store.engine.connect() as conn:
        lead = store.planner.choose_lead(conn, TWO)
    budget = int(12 * sqlite_planner.FIELD_BUDGET)
    assert 1 <= budget < 12
    # The lead's index holds its matches in value order (no two runs share a value here).
    value, low = {
        "input.tasks >= 15": (lambda r: r["input"]["tasks"], 15),
        "metrics.accuracy > 0.4": (lambda r: r["metrics"]["accuracy"], 0.425),
    }[str(lead.name)]
    first = sorted((r for r in PAIRS if value(r) >= low), key=value)[:budget]
    both = [r for r in first if r["run_id"] in want]
    assert store.count_matching(TWO) == MatchCount(len(both), exact=False)
    assert [r["run_id"] for r in store.page_runs(TWO, limit=5, offset=3)] == want[3:8]


def count_plan_text(store: RunStore, f: RunFilter) -> str:
    with store.engine.connect() as conn:
        lead = store.planner.choose_lead(conn, f)
        stmt = sqlite_planner.count_statement(f, 10_000, store.planner.count_plan(f, lead))
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        return "\n".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # only SQLite's planner is ours to test here
def test_sqlite_counts_a_numeric_filter_and_a_status_on_the_number_index_alone(store: RunStore) -> None:
    """The count's one clause is the index's own expression, the status a column of that index:
    SQLite reads the index and no row of runs for it (the plan names the number index alone)."""
    assert isinstance(store.planner, SqlitePlanner)
    store.insert_many(MIXED)
    add_field_index(store.engine, "input.x", "input", ("x",), by="test")
    store = RunStore(store.engine)
    number_index = number_index_name("input.x")
    for f in (RunFilter(where=["input.x >= 1"]), RunFilter(statuses=["failed"], where=["input.x >= 1"])):
        plan = count_plan_text(store, f)
        assert f"USING INDEX {number_index} (<expr>>?)" in plan and "PRIMARY KEY" not in plan, plan


def pg_plan(store: RunStore, stmt: Any) -> str:
    """PostgreSQL's plan for `stmt`, told to read no table whole nor by bitmap where an index can
    serve (at a handful of rows it would rather)."""
    with store.engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        conn.execute(text("SET enable_seqscan = off"))
        conn.execute(text("SET enable_bitmapscan = off"))
        return "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}").scalars())


@pytest.mark.parametrize(
    "backend", ["postgres"], indirect=True
)  # only PostgreSQL's planner is ours to test here
def test_postgres_counts_a_numeric_filter_on_the_number_columns_index_alone(store: RunStore) -> None:
    """The count's clause is on the field's number column: an index-only scan of its index, no
    row read; so are the run ids of a page sorted by the field; and the same runs as without.
    (A thousand runs more, the field -1 in each: PostgreSQL, told the statistics, then has a
    reason to prefer an index to the table at this size.)"""
    assert isinstance(store.planner, PostgresPlanner)
    store.insert_many(MIXED)
    store.insert_many(
        [full_row(f"z{i:04d}", created_at=T0 - dt.timedelta(minutes=i), input={"x": -1}) for i in range(1000)]
    )
    f = RunFilter(where=["input.x >= 1"])
    without = reads(store, f), sorted_reads(store, f)
    add_field_index(store.engine, "input.x", "input", ("x",), by="test")
    store = RunStore(store.engine)
    with store.engine.connect() as conn:
        lead = store.planner.lead(conn, f)
    assert lead is not None and lead.numbers == {"input.x >= 1"}
    only = re.compile(rf"Index Only Scan (Backward )?using {number_index_name('input.x')} ")
    count = pg_plan(store, postgres_planner.count_statement(f, 10_000, None, lead.numbers))
    assert only.search(count) and "Heap" not in count, count
    page = pg_plan(store, postgres_planner.page_statement(f, Field("input.x"), True, 50, 0, lead.numbers))
    assert only.search(page), page
    assert (reads(store, f), sorted_reads(store, f)) == without


def test_a_field_indexed_before_its_number_index_reads_the_same_runs_and_gets_it_on_upgrade(
    store: RunStore,
) -> None:
    """A database indexed by an older version (the value indexes alone, as 0017's input.tasks):
    the planner reads it as before, and upgrade_schema (or index add) builds the number index
    (PostgreSQL: its number column too)."""
    store.insert_many(MIXED)
    engine = store.engine
    dialect = engine.dialect.name
    add_field_index(engine, "input.x", "input", ("x",), by="test")
    f = RunFilter(statuses=["failed"], where=["input.x >= 1"])
    with engine.begin() as conn:  # as an older version left it
        if dialect == "sqlite":
            # (on a copy of the table: an Index made on the package's own would join its metadata)
            conn.execute(DropIndex(Index(number_index_name("input.x"), _table=runs.to_metadata(MetaData()))))
        else:
            conn.execute(text(f"ALTER TABLE runs DROP COLUMN {number_column_name('input.x')}"))
        conn.execute(
            update(field_indexes)
            .where(field_indexes.c.field == "input.x")
            .values(index_names=" ".join(index_names("input.x", dialect)[:-1]))
        )
    with engine.connect() as conn:
        assert "input.x" not in number_indexed_fields(conn)
    old = RunStore(engine)
    assert reads(old, f)[0] == expected("input.x >= 1", ["failed"])

    upgrade_schema(engine)
    with engine.connect() as conn:
        numbered = number_indexed_fields(conn)
    assert numbered == {"input.tasks", "input.x"}  # 0017's input.tasks too, at the fixture's upgrade
    assert set(index_names("input.x", dialect)) <= catalog_indexes(engine)
    assert not add_field_index(engine, "input.x", "input", ("x",), by="test")  # nothing left to build
    assert reads(RunStore(engine), f) == reads(old, f)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite's writers all wait for one another
def test_postgres_adds_a_number_column_behind_a_writer_without_holding_up_the_readers(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's open transaction holds runs: the ALTER that adds a field's number column asks
    for its lock LOCK_WAIT_MS at a time, so a reader of runs is not queued behind it until the
    writer ends (it would be, behind an ALTER that waits); once the writer ends, the column and
    its index are made, and the same runs read."""
    monkeypatch.setattr(field_indexes_module, "LOCK_WAIT_MS", 100)
    store.insert_many(MIXED)
    engine = store.engine
    add_field_index(engine, "input.x", "input", ("x",), by="test")
    f = RunFilter(where=["input.x >= 1"])
    before = reads(store, f)
    with engine.begin() as conn:  # as an older version left it: no number column
        conn.execute(text(f"ALTER TABLE runs DROP COLUMN {number_column_name('input.x')}"))
        names = " ".join(index_names("input.x", "postgresql")[:-1])
        conn.execute(
            update(field_indexes).where(field_indexes.c.field == "input.x").values(index_names=names)
        )

    def altering() -> bool:
        with engine.connect() as conn:
            return bool(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND query LIKE 'ALTER TABLE runs ADD COLUMN%'"
                    )
                )
            )

    with ThreadPoolExecutor(max_workers=1) as pool, engine.connect() as writer:
        with writer.begin():
            writer.execute(update(runs).where(runs.c.run_id == "m00").values(error="held"))
            completed = pool.submit(complete_field_indexes, engine, ["input.x"])
            wait_for(altering, 30, what="the ALTER to ask for its lock")
            with engine.connect() as reader:
                reader.execute(text("SET statement_timeout = '20s'"))  # queued behind the ALTER: fails
                assert reader.scalar(select(func.count()).select_from(runs)) == len(MIXED)
            assert not completed.done()
        assert completed.result(timeout=120) == ["input.x"]
    with engine.connect() as conn:
        assert "input.x" in number_indexed_fields(conn)
    assert reads(RunStore(engine), f) == before
