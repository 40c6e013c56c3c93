"""Benchmark: the dashboard's queries on a large runs table, on SQLite and PostgreSQL.

Seeds N runs (default 100,000) into a fresh database per backend, then times every runs-page
filter change (RunStore.query_runs: page + count) and the overview's aggregates
(orchestrator.metrics.overview), printing each figure, the SQL of the runs page, its plan, and
the ratio PostgreSQL / SQLite.

    python bench/queries.py                 # 100,000 runs, both backends
    python bench/queries.py --runs 1000000  # a million
    python bench/queries.py --backends sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, upgrade_schema
from orchestrator.metrics import Period, overview
from orchestrator.runs import RunFilter, RunStore
from orchestrator.status import ALL_STATUSES

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKFLOWS = ["simulate", "plan_execute", "etl_nightly", "rag_eval", "support_triage"]
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)

FILTERS = {
    "first page, newest first": (RunFilter(), "created_at", True),
    "status = failed": (RunFilter(statuses=["failed"]), "created_at", True),
    "workflow = rag_eval": (RunFilter(workflows=["rag_eval"]), "created_at", True),
    "tasks_total >= 900": (RunFilter(tasks_total_min=900), "created_at", True),
    "tasks_failed between 5 and 10": (RunFilter(tasks_failed_min=5, tasks_failed_max=10), "created_at", True),
    "created in one day": (
        RunFilter(created_from=NOW - dt.timedelta(days=3), created_to=NOW - dt.timedelta(days=2)),
        "created_at",
        True,
    ),
    "failed + workflow + tasks >= 500": (
        RunFilter(statuses=["failed"], workflows=["etl_nightly"], tasks_total_min=500),
        "created_at",
        True,
    ),
    "sort by tasks_completed": (RunFilter(), "tasks_completed", True),
    "text search 'nightly-7'": (RunFilter(text="nightly-7"), "created_at", True),
}


def seed_rows(n: int, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(n):
        created = NOW - dt.timedelta(seconds=rng.randrange(90 * 86400))
        total = rng.randrange(1, 1000)
        failed = rng.randrange(0, 12) if rng.random() < 0.2 else 0
        status = rng.choices(ALL_STATUSES, weights=[1, 2, 1, 80, 10, 3, 3])[0]
        rows.append(
            {
                "run_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "workflow": rng.choice(WORKFLOWS),
                "status": status,
                "created_at": created,
                "started_at": created + dt.timedelta(seconds=1),
                "finished_at": created + dt.timedelta(seconds=1 + rng.expovariate(1 / 30)),
                "tasks_total": total,
                "tasks_completed": max(total - failed, 0),
                "tasks_failed": failed,
                "input": {"tasks": total, "seed": i},
                "tags": [f"nightly-{i % 50}"] if i % 3 == 0 else [],
            }
        )
    return rows


def timed(call, repeat: int = 5) -> float:
    """Median wall time of `repeat` calls, in milliseconds (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def open_backend(backend: str, folder: Path) -> tuple[OrchestratorConfig, str | None]:
    if backend == "sqlite":
        return OrchestratorConfig(
            checkpoint_mode="sqlite", sqlite_path=str(folder / "bench.db"), env_file=None
        ), None
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    return OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None), name


def bench_backend(backend: str, n: int, folder: Path) -> dict[str, float]:
    config, pg_name = open_backend(backend, folder)
    engine = make_engine(config)
    try:
        upgrade_schema(engine)
        store = RunStore(engine)
        rng = random.Random(7)
        start = time.perf_counter()
        for offset in range(0, n, 20_000):
            store.insert_many(seed_rows(min(20_000, n - offset), rng))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        print(f"\n## {backend}: seeded {n:,} runs in {time.perf_counter() - start:.1f} s")
        figures: dict[str, float] = {}
        for label, (filters, sort, descending) in FILTERS.items():
            ms = timed(
                lambda f=filters, s=sort, d=descending: store.query_runs(f, sort=s, descending=d, limit=50)
            )
            figures[label] = ms
            total = store.query_runs(filters, sort=sort, descending=descending, limit=1).total
            print(f"  runs page  {label:<34} {ms:8.1f} ms   ({total:,} matching)")
        period = Period(NOW - dt.timedelta(days=7), NOW)
        ms = timed(lambda: overview(engine, period), repeat=3)
        figures["overview (7 days, all queries)"] = ms
        print(f"  overview   {'7 days, every figure and chart':<34} {ms:8.1f} ms")
        ms = timed(lambda: overview(engine, Period(NOW - dt.timedelta(days=30), NOW)), repeat=3)
        figures["overview (30 days, all queries)"] = ms
        print(f"  overview   {'30 days, every figure and chart':<34} {ms:8.1f} ms")
        show_plan(engine, store)
        return figures
    finally:
        engine.dispose()
        if pg_name:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{pg_name}" WITH (FORCE)')


def show_plan(engine, store: RunStore) -> None:
    """The SQL of one filtered runs page and the database's plan for it."""
    from sqlalchemy import select

    from orchestrator.runs import LIST_COLUMNS, runs

    filters = RunFilter(statuses=["failed"], tasks_total_min=900)
    stmt = select(*LIST_COLUMNS).where(*filters.conditions()).order_by(runs.c.created_at.desc()).limit(50)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        plan = [" ".join(str(c) for c in row) for row in conn.execute(text(explain + sql))]
    print("  SQL (status = failed, tasks_total >= 900, newest 50):")
    print("    " + " ".join(sql.split()))
    print("  plan:")
    for line in plan[:8]:
        print("    " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {b: bench_backend(b, args.runs, Path(folder)) for b in args.backends}
    if len(results) == 2:
        print("\n## PostgreSQL / SQLite time ratio")
        for label in results["sqlite"]:
            ratio = results["postgres"][label] / results["sqlite"][label]
            print(f"  {label:<45} {ratio:6.2f}")


if __name__ == "__main__":
    main()
