"""Field filters and sorts at N runs, both backends (figures only): the runs page's read, a page
of 50 and its capped count, each read with its lead chosen anew (the planner's probes included);
median and p95 of `repeats`, against the runs page's target (p95 < 50 ms, page plus count).

    python -m bench.fields --runs 1000000 --backends sqlite postgres

Seeds the runs only (bench.data.generate: input.tasks = tasks_total, 1 … 999) into
bench/results/fields-sqlite-N.db and the PostgreSQL database orchestrator_fields_N, through the
migrations (input.tasks's expression index); then gives every run (PostgreSQL: every tenth) a recorded metric
(`metrics.accuracy`, 0.000 … 0.999, from a hash of its id: what record_metric leaves on the
row) and indexes it with the package's own `index add` (orchestrator.db.field_indexes). The
unindexed cases say what a field without an index costs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import psycopg
from sqlalchemy import Engine, text

from bench.seed import PG_SERVER, RESULTS, _seed_postgres, _seed_sqlite, _sqlite_seeded
from orchestrator.config import OrchestratorConfig
from orchestrator.db import analyze_after_bulk_write, make_engine, runs, upgrade_schema
from orchestrator.db.field_indexes import add_field_index
from orchestrator.run_queries import RunFilter
from orchestrator.runs import RunStore

TARGET_MS = 50.0
CASES: list[tuple[str, RunFilter, str]] = [
    ("input.tasks >= 990", RunFilter(where=["input.tasks >= 990"]), "created_at"),
    ("input.tasks > 100", RunFilter(where=["input.tasks > 100"]), "created_at"),
    ("input.tasks = 500", RunFilter(where=["input.tasks = 500"]), "created_at"),
    ("sort -input.tasks", RunFilter(), "input.tasks"),
    ("input.tasks >= 990, sort -input.tasks", RunFilter(where=["input.tasks >= 990"]), "input.tasks"),
    (
        "status=failed & input.tasks >= 990",
        RunFilter(statuses=["failed"], where=["input.tasks >= 990"]),
        "created_at",
    ),
    ("metrics.accuracy >= 0.999", RunFilter(where=["metrics.accuracy >= 0.999"]), "created_at"),
    ("metrics.accuracy > 0.5", RunFilter(where=["metrics.accuracy > 0.5"]), "created_at"),
    ("sort -metrics.accuracy", RunFilter(), "metrics.accuracy"),
    (
        "metrics.accuracy > 0.99, sort -metrics.accuracy",
        RunFilter(where=["metrics.accuracy > 0.99"]),
        "metrics.accuracy",
    ),
    (
        "status=failed & metrics.accuracy >= 0.999",
        RunFilter(statuses=["failed"], where=["metrics.accuracy >= 0.999"]),
        "created_at",
    ),
    (
        "input.tasks >= 900 & metrics.accuracy > 0.9",
        RunFilter(where=["input.tasks >= 900", "metrics.accuracy > 0.9"]),
        "created_at",
    ),
    (
        "input.note contains 'batch 12' (unindexed)",
        RunFilter(where=["input.note contains 'batch 12'"]),
        "created_at",
    ),
    ("input.seed < 100 (unindexed, narrow)", RunFilter(where=["input.seed < 100"]), "created_at"),
]
# Every run's metric, from a hash of its id (the same shape on both databases).
METRICS = {
    "sqlite": "UPDATE runs SET metrics = json_object('accuracy', ((rowid * 7919) % 1000) / 1000.0)",
    # A tenth of the runs: an UPDATE of every one of a million rows, each in ~20 indexes, took
    # longer than a seed should (a team's metric is often recorded by one workflow's runs alone).
    "postgresql": "UPDATE runs SET metrics = jsonb_build_object('accuracy', "
    "(abs(hashtext(run_id || 'accuracy')) % 1000) / 1000.0) WHERE abs(hashtext(run_id)) % 10 = 0",
}


def _sqlite_engine(n: int) -> Engine:
    RESULTS.mkdir(exist_ok=True)
    path: Path = RESULTS / f"fields-sqlite-{n}.db"
    engine = make_engine(OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None))
    if not path.exists() or not _sqlite_seeded(path):
        path.unlink(missing_ok=True)
        upgrade_schema(engine)
        start = time.perf_counter()
        _seed_sqlite(path, n)
        print(f"sqlite: seeded {n:,} runs in {time.perf_counter() - start:.1f} s", flush=True)
    return engine


def _postgres_engine(n: int) -> Engine:
    name = f"orchestrator_fields_{n}"
    uri = f"{PG_SERVER}/{name}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            with psycopg.connect(uri) as conn:
                seeded = conn.execute("SELECT to_regclass('bench_seeded') IS NOT NULL").fetchone()
            if not (seeded and seeded[0]):
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None))
    if not exists:
        upgrade_schema(engine)
        start = time.perf_counter()
        _seed_postgres(uri, n)
        print(f"postgres: seeded {n:,} runs in {time.perf_counter() - start:.1f} s", flush=True)
    return engine


def store_at(n: int, backend: str) -> RunStore:
    """A store on N seeded runs, each with metrics.accuracy, the metric indexed by the package."""
    engine = _sqlite_engine(n) if backend == "sqlite" else _postgres_engine(n)
    upgrade_schema(engine)
    with engine.connect() as conn:
        recorded = conn.execute(text("SELECT 1 FROM runs WHERE metrics IS NOT NULL LIMIT 1")).first()
    if recorded is None:
        start = time.perf_counter()
        with engine.begin() as conn:
            updated = conn.execute(text(METRICS[engine.dialect.name])).rowcount
        print(f"{backend}: metrics.accuracy on {updated:,} runs in {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        add_field_index(engine, "metrics.accuracy", "metrics", ("accuracy",), by="bench")
        print(f"{backend}: index add metrics.accuracy in {time.perf_counter() - start:.1f} s", flush=True)
        analyze_after_bulk_write(engine, [runs])  # the expression index's statistics too
    return RunStore(engine)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    args = parser.parse_args()
    for backend in args.backends:
        store = store_at(args.runs, backend)
        print(f"\n| {backend}, {args.runs:,} runs | page ms | count ms | page+count p95 ms | shown | target |")
        print("|---|---:|---:|---:|---:|---|")
        for name, f, sort in CASES:
            pages, counts, both = [], [], []
            shown = None
            store.page_runs(f, sort=sort, limit=50)  # warm-up
            for _ in range(args.repeats):
                store.forget_plans()
                began = time.perf_counter()
                store.page_runs(f, sort=sort, limit=50)
                middle = time.perf_counter()
                shown = store.count_matching(f)
                ended = time.perf_counter()
                pages.append(1000 * (middle - began))
                counts.append(1000 * (ended - middle))
                both.append(1000 * (ended - began))
            worst = p95(both)
            met = "met" if worst < TARGET_MS else ("unindexed" if "unindexed" in name else "missed")
            print(
                f"| {name} | {statistics.median(pages):.1f} | {statistics.median(counts):.1f} | "
                f"{worst:.1f} | {shown} | {met} |",
                flush=True,
            )
        store.engine.dispose()


if __name__ == "__main__":
    main()
