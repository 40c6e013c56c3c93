"""python -m bench.usage_indexes: the runs page's cost and tokens filters and sorts at N runs,
without and with their indexes (migration 0021), both backends. Figures only.

Seeds N runs (bench.data.generate, default 100,000) into bench/results/usage-sqlite-N.db and
the PostgreSQL database `observe_usage_N`, then gives them model-call figures from a hash of
each run (a quarter made no call; up to 5 calls, tokens and cost in proportion, as the
executor leaves them on the row). Each case is the runs page's read: a page of 50 and the
capped count it shows, the lead chosen anew each time (the planner's probes included), median
and p95 of `--repeats`.

"without": the two indexes dropped and the SQLite planner not leading with cost or tokens (the
read path before 0021); "with": as the package is. The PostgreSQL database is dropped at the end
unless `--keep`.

    python -m bench.usage_indexes                       # 100,000 runs, both backends
    python -m bench.usage_indexes --runs 1000000 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import psycopg
from sqlalchemy import Engine, text

from bench.measure import add_backends_argument
from bench.seed import PG_SERVER, RESULTS, _seed_postgres, _seed_sqlite, _sqlite_seeded
from orchestrator.config import OrchestratorConfig
from orchestrator.db import analyze_after_bulk_write, make_engine, runs, upgrade_schema
from orchestrator.run_queries import RunFilter, planner
from orchestrator.runs import RunStore

CASES: list[tuple[str, RunFilter, str]] = [
    ("cost >= $0.1 (narrow)", RunFilter(cost_usd_min=0.1), "created_at"),
    ("cost >= $0.01 (broad)", RunFilter(cost_usd_min=0.01), "created_at"),
    ("cost $0.001 - $0.0012", RunFilter(cost_usd_min=0.001, cost_usd_max=0.0012), "created_at"),
    ("tokens >= 30,000 (narrow)", RunFilter(tokens_min=30_000), "created_at"),
    ("sort -cost", RunFilter(), "cost_usd"),
    ("sort +cost", RunFilter(), "+cost_usd"),
    ("sort -tokens", RunFilter(), "tokens"),
    ("sort +tokens", RunFilter(), "+tokens"),
    ("cost >= $0.1, sort -cost", RunFilter(cost_usd_min=0.1), "cost_usd"),
    ("status=failed & cost >= $0.05", RunFilter(statuses=["failed"], cost_usd_min=0.05), "created_at"),
]
# Every run's model calls, tokens and cost from a hash of it (h, 0 ... 999): the same shape on both.
USAGE = """
UPDATE runs SET model_calls = u.calls, input_tokens = u.calls * (100 + u.h * 7),
    output_tokens = u.calls * (10 + u.h),
    cost_usd = (u.calls * (100 + u.h * 7) * 2.5 + u.calls * (10 + u.h) * 10.0) / 1000000.0
FROM (SELECT run_id, h, CASE WHEN h % 4 = 0 THEN 0 ELSE 1 + h % 5 END AS calls
      FROM (SELECT run_id, {hash} AS h FROM runs) AS hashed) AS u
WHERE runs.run_id = u.run_id
"""
HASH = {"sqlite": "(rowid * 7919) % 1000", "postgresql": "abs(hashtext(run_id)) % 1000"}
INDEXES = {
    "ix_runs_cost_usd_run_id": "CREATE INDEX ix_runs_cost_usd_run_id ON runs (cost_usd, run_id)",
    "ix_runs_tokens_run_id": "CREATE INDEX ix_runs_tokens_run_id ON runs ((input_tokens + output_tokens), run_id)",
}
LEADS = ("cost_usd", "tokens")


def _engine(n: int, backend: str) -> Engine:
    if backend == "sqlite":
        RESULTS.mkdir(exist_ok=True)
        path: Path = RESULTS / f"usage-sqlite-{n}.db"
        engine = make_engine(OrchestratorConfig(sqlite_path=str(path), env_file=None))
        if not path.exists() or not _sqlite_seeded(path):
            path.unlink(missing_ok=True)
            upgrade_schema(engine)
            _seed_sqlite(path, n)
        return engine
    name = f"observe_usage_{n}"
    uri = f"{PG_SERVER}/{name}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None))
    upgrade_schema(engine)
    _seed_postgres(uri, n)
    return engine


def store_at(n: int, backend: str) -> RunStore:
    started = time.perf_counter()
    engine = _engine(n, backend)
    upgrade_schema(engine)
    with engine.connect() as conn:
        done = conn.execute(text("SELECT 1 FROM runs WHERE model_calls > 0 LIMIT 1")).first()
    if done is None:
        with engine.begin() as conn:
            conn.execute(text(USAGE.format(hash=HASH[engine.dialect.name])))
        analyze_after_bulk_write(engine, [runs])
    print(f"{backend}: {n:,} runs ready in {time.perf_counter() - started:.0f} s", flush=True)
    return RunStore(engine)


def set_indexes(store: RunStore, present: bool) -> None:
    """Drop the two indexes and keep the planner from leading with them, or put both back."""
    with store.engine.begin() as conn:
        for name, create in INDEXES.items():
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
            if present:
                conn.execute(text(create))
    analyze_after_bulk_write(store.engine, [runs])
    companions = dict(planner.COMPANIONS)
    for name in LEADS:
        if present:
            companions[name] = frozenset()
        else:
            companions.pop(name, None)
    planner.COMPANIONS = companions
    store.forget_plans()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def measure(store: RunStore, repeats: int) -> dict[str, tuple[float, float, str]]:
    """Per case: median and p95 ms of page + count, and the count shown."""
    found = {}
    for name, f, sort in CASES:
        descending = not sort.startswith("+")
        sort = sort.lstrip("+")
        both: list[float] = []
        shown = ""
        store.page_runs(f, sort=sort, descending=descending, limit=50)  # warm-up
        for _ in range(repeats):
            store.forget_plans()
            began = time.perf_counter()
            store.page_runs(f, sort=sort, descending=descending, limit=50)
            shown = str(store.count_matching(f))
            both.append(1000 * (time.perf_counter() - began))
        found[name] = (statistics.median(both), p95(both), shown)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.usage_indexes", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=9)
    add_backends_argument(parser)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    for backend in args.backends:
        store = store_at(args.runs, backend)
        try:
            set_indexes(store, present=False)
            without = measure(store, args.repeats)
            set_indexes(store, present=True)
            with_ = measure(store, args.repeats)
        finally:
            store.engine.dispose()
        print(
            f"\n{backend}, {args.runs:,} runs, {args.repeats} repeats, load average "
            f"{os.getloadavg()[0]:.1f}: page of 50 + its count, ms"
        )
        print("| case | runs shown | without: median (p95) | with: median (p95) |")
        print("|---|---:|---:|---:|")
        for name, (p50, worst, shown) in with_.items():
            b50, bworst, _ = without[name]
            print(f"| {name} | {shown} | {b50:.1f} ({bworst:.1f}) | {p50:.1f} ({worst:.1f}) |", flush=True)
        if backend == "postgres" and not args.keep:
            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "observe_usage_{args.runs}" WITH (FORCE)')


if __name__ == "__main__":
    main()
