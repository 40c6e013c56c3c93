"""Field filters and sorts at N runs, both backends (figures only): the runs page's read, a page
of 50 and its capped count, each read with its lead chosen anew (the planner's probes included);
median and p95 of `repeats`, against the runs page's target (p95 < 50 ms, page plus count).

    python -m bench.fields --runs 1000000 --backends sqlite postgres
    python -m bench.fields --backends sqlite --cases "tasks >= 900" --repeats 21   # the two fields
    python -m bench.fields --backends postgres --seed-only   # seed (and index) now, time later

Seeds the runs (bench.data.generate: input.tasks = tasks_total, 1 … 999), each with a recorded
metric (`metrics.accuracy`, 0.000 … 0.999 from its index: what record_metric leaves on the row),
into bench/results/fields-sqlite-N-vSEED.db and the PostgreSQL database orchestrator_fields_N_vSEED,
through the migrations (input.tasks's expression index); then indexes the metric with the
package's own `index add` (orchestrator.db.field_indexes). The unindexed cases say what a field
without an index costs.

SQLite's seed inserts with the runs' indexes and its search trigger set aside, then builds the
search index and the indexes whole from the same SQL (about 6x quicker than row by row: a
million runs in minutes, not half an hour); the rollup's triggers fire for each run as ever.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Engine

from bench.data import COLUMNS, generate
from bench.measure import add_backends_argument
from bench.seed import PG_SERVER, RESULTS, _pg_seeded, _sqlite_seeded, _stamp
from orchestrator.config import OrchestratorConfig
from orchestrator.db import analyze_after_bulk_write, make_engine, runs, upgrade_schema
from orchestrator.db.field_indexes import add_field_index, indexed_field_names
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
# Seeds change (and are made anew under a new name) when this does.
FIELDS_SEED = 2
SEARCH_TRIGGER = "runs_search_insert"  # migration 0008's: each run's row in the search index


def accuracy(i: int) -> float:
    """The i-th run's metrics.accuracy: 0.000 … 0.999, evenly, spread over the runs."""
    return ((i + 1) * 7919 % 1000) / 1000.0


def _rows(n: int) -> Iterator[tuple]:
    """The seed's runs in COLUMNS order, then their metrics (as record_metric leaves them)."""
    for i, row in enumerate(generate(n)):
        yield (*row, {"accuracy": accuracy(i)})


def _seed_sqlite_fields(path: Path, n: int) -> None:
    """Insert the runs with their indexes and search trigger set aside, then build both whole."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    conn.execute("BEGIN")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL"
    ).fetchall()
    (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (SEARCH_TRIGGER,)).fetchone()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.execute(f'DROP TRIGGER "{SEARCH_TRIGGER}"')
    columns = (*COLUMNS, "metrics")
    sql = f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

    def as_text(row: tuple) -> tuple:
        r = list(row)
        for i in (3, 4, 5):
            r[i] = _stamp(r[i])
        for i in (11, 12, 17):
            r[i] = json.dumps(r[i])
        return tuple(r)

    conn.executemany(sql, map(as_text, _rows(n)))
    conn.execute(
        "INSERT INTO runs_search (rowid, run_id, tags, input) SELECT rowid, run_id, tags, input FROM runs"
    )
    conn.execute(trigger)
    for _, index_sql in indexes:
        conn.execute(index_sql)
    conn.execute("CREATE TABLE bench_seeded (n INTEGER)")
    conn.execute("INSERT INTO bench_seeded VALUES (?)", (n,))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _seed_postgres_fields(uri: str, n: int) -> None:
    with psycopg.connect(uri) as conn:
        columns = ", ".join((*COLUMNS, "metrics"))
        with conn.cursor() as cur, cur.copy(f"COPY runs ({columns}) FROM STDIN") as copy:
            for row in _rows(n):
                r = list(row)
                for i in (11, 12, 17):
                    r[i] = Jsonb(r[i])
                copy.write_row(r)
        conn.execute("CREATE TABLE bench_seeded (n integer)")
        conn.execute("INSERT INTO bench_seeded VALUES (%s)", (n,))
        conn.commit()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE runs")


def _sqlite_engine(n: int) -> Engine:
    RESULTS.mkdir(exist_ok=True)
    path: Path = RESULTS / f"fields-sqlite-{n}-v{FIELDS_SEED}.db"
    engine = make_engine(OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None))
    if not path.exists() or not _sqlite_seeded(path):
        path.unlink(missing_ok=True)
        upgrade_schema(engine)
        start = time.perf_counter()
        _seed_sqlite_fields(path, n)
        print(f"sqlite: seeded {n:,} runs in {time.perf_counter() - start:.1f} s", flush=True)
    return engine


def _postgres_engine(n: int) -> Engine:
    name = f"orchestrator_fields_{n}_v{FIELDS_SEED}"
    uri = f"{PG_SERVER}/{name}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not _pg_seeded(uri):
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None))
    if not exists:
        upgrade_schema(engine)
        start = time.perf_counter()
        _seed_postgres_fields(uri, n)
        print(f"postgres: seeded {n:,} runs in {time.perf_counter() - start:.1f} s", flush=True)
    return engine


def store_at(n: int, backend: str) -> RunStore:
    """A store on N seeded runs, each with metrics.accuracy, the metric indexed by the package."""
    engine = _sqlite_engine(n) if backend == "sqlite" else _postgres_engine(n)
    upgrade_schema(engine)
    if "metrics.accuracy" not in indexed_field_names(engine):
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
    parser.add_argument(
        "--cases", nargs="+", default=(), help="only the cases whose name contains one of these texts"
    )
    parser.add_argument("--seed-only", action="store_true", help="seed (and index), time nothing")
    add_backends_argument(parser)
    args = parser.parse_args()
    cases = [case for case in CASES if not args.cases or any(text in case[0] for text in args.cases)]
    for backend in args.backends:
        store = store_at(args.runs, backend)
        if args.seed_only:
            store.engine.dispose()
            continue
        print(
            f"\n| {backend}, {args.runs:,} runs | page ms | count ms | page+count p95 ms | shown | target |"
        )
        print("|---|---:|---:|---:|---:|---|")
        for name, f, sort in cases:
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
