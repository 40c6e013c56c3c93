"""Seeded databases: the same N runs (one generator, fixed seed) on each backend, cached.

A seeded SQLite file is kept under bench/results/ and a seeded PostgreSQL database is kept as
`orchestrator_bench_<n>`; a later run reuses them (and migrates them to the package's head,
as a real upgrade would) instead of seeding again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Engine

from bench.data import COLUMNS, TASK_COLUMNS, TASKS_PER_RUN, generate, generate_tasks
from orchestrator import rollup
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, schema_version, upgrade_schema

RESULTS = Path(__file__).resolve().parent / "results"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SEED_VERSION = 2  # bump when bench/data.py changes: cached databases are then seeded anew


def sqlite_engine(n: int) -> tuple[Engine, Path]:
    """A SQLite engine on a file seeded with n runs (seeded now if not cached)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"sqlite-{n}-v{SEED_VERSION}.db"
    engine = make_engine(OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None))
    if not path.exists() or not _sqlite_seeded(path):
        path.unlink(missing_ok=True)
        upgrade_schema(engine)
        start = time.perf_counter()
        _seed_sqlite(path, n)
        print(f"  sqlite: seeded {n:,} runs in {time.perf_counter() - start:.1f} s")
        _fold_rollup(engine)
    _upgrade_and_analyze(engine)
    if not _sqlite_seeded(path, "bench_tasks_seeded"):
        start = time.perf_counter()
        _seed_sqlite_tasks(path, n)
        print(f"  sqlite: seeded {n * TASKS_PER_RUN:,} tasks at most in {time.perf_counter() - start:.1f} s")
        _fold_rollup(engine)
    return engine, path


def _sqlite_seeded(path: Path, marker: str = "bench_seeded") -> bool:
    import sqlite3

    with sqlite3.connect(path) as conn:
        try:
            return conn.execute(f"SELECT n FROM {marker}").fetchone() is not None
        except sqlite3.OperationalError:
            return False


def _stamp(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds") if value else None


def _sqlite_bulk(
    path: Path, table: str, columns: Sequence[str], rows: Iterable[tuple], marker: str, n: int
) -> None:
    """Insert rows in batches of 50,000 in one transaction (through the table's triggers), then
    the marker table that says this seed is done."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn.execute("BEGIN")
    for batch in _batches(rows):
        conn.executemany(sql, batch)
    conn.execute(f"CREATE TABLE {marker} (n INTEGER)")
    conn.execute(f"INSERT INTO {marker} VALUES (?)", (n,))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _batches(rows: Iterable[tuple], size: int = 50_000) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    yield batch


def _seed_sqlite_tasks(path: Path, n: int) -> None:
    """The runs' tasks (bench.data.generate_tasks), through the node rollup's triggers (0013)."""
    rows = ((*row[:5], _stamp(row[5]), _stamp(row[6]), row[7]) for row in generate_tasks(n))
    _sqlite_bulk(path, "run_tasks", TASK_COLUMNS, rows, "bench_tasks_seeded", n)


def _seed_sqlite(path: Path, n: int) -> None:
    import json

    def as_text(row: tuple) -> tuple:
        r = list(row)
        for i in (3, 4, 5):
            r[i] = _stamp(r[i])
        r[11], r[12] = json.dumps(r[11]), json.dumps(r[12])
        return tuple(r)

    _sqlite_bulk(path, "runs", COLUMNS, map(as_text, generate(n)), "bench_seeded", n)


def postgres_uri(n: int) -> str:
    return f"{PG_SERVER}/orchestrator_bench_{n}_v{SEED_VERSION}"


def postgres_engine(n: int) -> tuple[Engine, str]:
    """An engine on a PostgreSQL database seeded with n runs (created and seeded if not there)."""
    name = f"orchestrator_bench_{n}_v{SEED_VERSION}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not _pg_seeded(postgres_uri(n)):
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    uri = postgres_uri(n)
    engine = make_engine(OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None))
    if not exists:
        upgrade_schema(engine)
        start = time.perf_counter()
        _seed_postgres(uri, n)
        print(f"  postgres: seeded {n:,} runs in {time.perf_counter() - start:.1f} s")
        _fold_rollup(engine)
    _upgrade_and_analyze(engine)
    if not _pg_seeded(uri, "bench_tasks_seeded"):
        start = time.perf_counter()
        _seed_postgres_tasks(uri, n)
        print(
            f"  postgres: seeded {n * TASKS_PER_RUN:,} tasks at most in {time.perf_counter() - start:.1f} s"
        )
        _fold_rollup(engine)
    return engine, uri


def _fold_rollup(engine: Engine) -> None:
    """The seed's inserts went through the rollup's triggers: fold their deltas, as the executors'
    upkeep would have while the runs came in."""
    start = time.perf_counter()
    folded = rollup.compact(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # A million folded deltas at once is more than autovacuum clears at once; a live
        # database folds a few hundred at a time and its autovacuum keeps up (migration 0011).
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    print(f"  {engine.dialect.name}: folded {folded:,} rollup deltas in {time.perf_counter() - start:.1f} s")


def _upgrade_and_analyze(engine: Engine) -> None:
    """Migrate a cached database to the package's head; new indexes get their statistics."""
    before = schema_version(engine)
    start = time.perf_counter()
    upgrade_schema(engine)
    if schema_version(engine) != before:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        print(
            f"  {engine.dialect.name}: migrated {before} -> head and analyzed in {time.perf_counter() - start:.1f} s"
        )


def _pg_seeded(uri: str, marker: str = "bench_seeded") -> bool:
    with psycopg.connect(uri) as conn:
        return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL", (marker,)).fetchone()[0])  # type: ignore[index]


def _seed_postgres_tasks(uri: str, n: int) -> None:
    """The runs' tasks (bench.data.generate_tasks), through the node rollup's trigger (0013)."""
    with psycopg.connect(uri) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY run_tasks ({', '.join(TASK_COLUMNS)}) FROM STDIN") as copy:
            for row in generate_tasks(n):
                copy.write_row(row)
        conn.execute("CREATE TABLE bench_tasks_seeded (n integer)")
        conn.execute("INSERT INTO bench_tasks_seeded VALUES (%s)", (n,))
        conn.commit()


def _seed_postgres(uri: str, n: int) -> None:
    with psycopg.connect(uri) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY runs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in generate(n):
                r = list(row)
                r[11], r[12] = Jsonb(r[11]), Jsonb(r[12])
                copy.write_row(r)
        conn.execute("CREATE TABLE bench_seeded (n integer)")
        conn.execute("INSERT INTO bench_seeded VALUES (%s)", (n,))
        conn.commit()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE runs")
