"""The indexes of migration 0021 read by each database's plan: the runs page's cost and tokens
filters and sorts, as its planner reads them (SQLite: the statement SqlitePlanner builds;
PostgreSQL: the page as written, its planner choosing), and a run's logs from WARNING up; each
read gives what was worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, Select, text

from orchestrator.db import run_logs
from orchestrator.observe.reads import ObservationReader, log_select
from orchestrator.run_queries import Field, RunFilter
from orchestrator.run_queries.sqlite_planner import SqlitePlanner, page_statement
from orchestrator.run_queries.statements import portable_page
from orchestrator.runs import RunStore
from tests.test_store import full_row

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
COST = "ix_runs_cost_usd_run_id"
TOKENS = "ix_runs_tokens_run_id"
# 200 runs, one a minute: run i made i % 10 calls of 100 input and 10 output tokens each
# (tokens 110 x (i % 10)) at $0.001 a call, so runs 9, 19, ... 199 cost $0.009 with 990 tokens.
RUNS = [
    full_row(
        f"r{i:03d}",
        status="succeeded",
        created_at=T0 + dt.timedelta(minutes=i),
        model_calls=i % 10,
        input_tokens=100 * (i % 10),
        output_tokens=10 * (i % 10),
        cost_usd=0.001 * (i % 10),
    )
    for i in range(200)
]
NINES = [f"r{i:03d}" for i in range(199, 0, -10)]  # newest first


def statement(store: RunStore, f: RunFilter, sort: str) -> Select:
    """The page of 50, newest first by `sort`, as the store's planner reads it."""
    planner = store.planner
    if isinstance(planner, SqlitePlanner) and f.parts():
        with store.engine.connect() as conn:
            lead = planner.choose_lead(conn, f)
        return page_statement(f, Field(sort), True, 50, 0, planner.page_plan(f, lead, Field(sort)))
    return portable_page(f, Field(sort), True, 50, 0)


def plan_text(engine: Engine, stmt: Select, table: str = "runs") -> str:
    """The database's plan of `stmt` (PostgreSQL told to avoid a sequential scan where it can: at
    200 rows it would rather read the table)."""
    with engine.connect() as conn:
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"ANALYZE {table}"))
            conn.execute(text("SET enable_seqscan = off"))
            return "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}").scalars())
        return "\n".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))


@pytest.mark.parametrize(
    ("f", "sort", "index", "want"),
    [
        (RunFilter(), "cost_usd", COST, None),
        (RunFilter(), "tokens", TOKENS, None),
        (RunFilter(cost_usd_min=0.0085), "created_at", COST, NINES),
        (RunFilter(cost_usd_min=0.0085), "cost_usd", COST, NINES),
        (RunFilter(tokens_min=900), "created_at", TOKENS, NINES),
        (RunFilter(tokens_min=900, tokens_max=1000), "tokens", TOKENS, NINES),
    ],
)
def test_cost_and_tokens_read_through_their_index(
    store: RunStore, f: RunFilter, sort: str, index: str, want: list[str] | None
) -> None:
    store.insert_many(RUNS)
    assert index in plan_text(store.engine, statement(store, f, sort))
    got = [r["run_id"] for r in store.page_runs(f, sort=sort, limit=50)]
    if want is not None:
        assert got == want  # equal figures: newest first by run id, the tie-break
    else:
        assert got[:3] == ["r199", "r189", "r179"]  # the dearest (most tokens), then by run id


def test_a_level_filter_reads_the_runs_warnings_and_errors_on_their_index(store: RunStore) -> None:
    """From WARNING up, and from ERROR up, a run's lines are read on the partial index of those
    lines (migration 0021), not on the index of every line; below WARNING, on that one."""
    with store.engine.begin() as conn:
        conn.execute(
            run_logs.insert(),
            [
                {
                    "run_id": f"r{i % 4}",
                    "task_id": f"t{i % 40}",
                    "node": "work",
                    "attempt": 1,
                    "at": T0 + dt.timedelta(seconds=i),
                    "level": 40 if i % 50 == 0 else 30 if i % 10 == 0 else 20,
                    "logger": "team",
                    "message": f"line {i}",
                }
                for i in range(2_000)
            ],
        )
    for level, index in (
        (50, "ix_run_logs_errors"),
        (40, "ix_run_logs_errors"),
        (30, "ix_run_logs_warnings"),
        (20, "ix_run_logs_run_id_id"),
    ):
        stmt = log_select("r0", None, level, "", 0, 500, True)
        assert index in plan_text(store.engine, stmt, table="run_logs")
    reader = ObservationReader(store.engine)
    errors = reader.logs("r0", min_level=40, limit=500, newest=True)
    assert [line["message"] for line in errors] == [f"line {i}" for i in range(0, 2_000, 100)]
    assert len(reader.logs("r0", min_level=30, limit=500)) == 100  # lines 0, 20, 40 ... of the 2,000
