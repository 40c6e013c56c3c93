"""Seeded databases: the same N runs (one generator, fixed seed) on each backend, cached.

A seeded SQLite file is kept under bench/results/ and a seeded PostgreSQL database is kept as
`orchestrator_bench_<n>`; a later run reuses them (and migrates them to the package's head,
as a real upgrade would) instead of seeding again.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Engine

from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, schema_version, upgrade_schema

RESULTS = Path(__file__).resolve().parent / "results"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
WORKFLOWS = ["simulate", "plan_execute", "etl_nightly", "rag_eval", "support_triage"]
STATUSES = ["queued", "running", "awaiting_input", "succeeded", "failed", "cancelled", "interrupted"]
WEIGHTS = [1, 2, 1, 80, 10, 3, 3]
PEOPLE = ["ana", "bo", "chen", "dee", None]
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
DAYS = 90
SEED_VERSION = 1  # bump when the generator changes: cached databases are then seeded anew
COLUMNS = (
    "run_id", "workflow", "status", "created_at", "started_at", "finished_at", "duration_seconds",
    "tasks_total", "tasks_completed", "tasks_failed", "input", "tags", "launched_by",
    "cancel_requested", "attempt", "auto_retries",
)  # fmt: skip


def generate(n: int, seed: int = 7) -> Iterator[tuple]:
    """N run rows as tuples in COLUMNS order (datetimes aware, JSON as Python values)."""
    rng = random.Random(seed)
    choices = rng.choices
    for i in range(n):
        created = NOW - dt.timedelta(seconds=rng.randrange(DAYS * 86400))
        status = choices(STATUSES, WEIGHTS)[0]
        total = rng.randrange(1, 1000)
        failed = rng.randrange(1, 12) if rng.random() < 0.2 else 0
        started = created + dt.timedelta(seconds=1) if status != "queued" else None
        duration = (
            rng.expovariate(1 / 30) if status in ("succeeded", "failed", "cancelled", "interrupted") else None
        )
        finished = started + dt.timedelta(seconds=duration) if started and duration is not None else None
        yield (
            uuid.UUID(int=rng.getrandbits(128)).hex,
            WORKFLOWS[i % 5] if rng.random() < 0.5 else rng.choice(WORKFLOWS),
            status,
            created,
            started,
            finished,
            duration if started else None,
            total,
            max(total - failed, 0),
            failed,
            {"tasks": total, "seed": i, "note": f"batch {i % 1000}"},
            [f"nightly-{i % 50}"] if i % 3 == 0 else [],
            PEOPLE[i % 5],
            False,
            1,
            0,
        )


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
    _upgrade_and_analyze(engine)
    return engine, path


def _sqlite_seeded(path: Path) -> bool:
    import sqlite3

    with sqlite3.connect(path) as conn:
        try:
            return conn.execute("SELECT n FROM bench_seeded").fetchone() is not None
        except sqlite3.OperationalError:
            return False


def _seed_sqlite(path: Path, n: int) -> None:
    import json
    import sqlite3

    def stamp(value: dt.datetime | None) -> str | None:
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds") if value else None

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    sql = f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    conn.execute("BEGIN")
    batch: list[tuple] = []
    for row in generate(n):
        r = list(row)
        for i in (3, 4, 5):
            r[i] = stamp(r[i])
        r[10], r[11] = json.dumps(r[10]), json.dumps(r[11])
        batch.append(tuple(r))
        if len(batch) >= 50_000:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.execute("CREATE TABLE bench_seeded (n INTEGER)")
    conn.execute("INSERT INTO bench_seeded VALUES (?)", (n,))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


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
    _upgrade_and_analyze(engine)
    return engine, uri


def _upgrade_and_analyze(engine: Engine) -> None:
    """Migrate a cached database to the package's head; new indexes get their statistics."""
    before = schema_version(engine)
    start = time.perf_counter()
    upgrade_schema(engine)
    if schema_version(engine) != before:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        print(f"  {engine.dialect.name}: migrated {before} -> head and analyzed in {time.perf_counter() - start:.1f} s")


def _pg_seeded(uri: str) -> bool:
    with psycopg.connect(uri) as conn:
        return bool(conn.execute("SELECT to_regclass('bench_seeded') IS NOT NULL").fetchone()[0])  # type: ignore[index]


def _seed_postgres(uri: str, n: int) -> None:
    with psycopg.connect(uri) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY runs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in generate(n):
                r = list(row)
                r[10], r[11] = Jsonb(r[10]), Jsonb(r[11])
                copy.write_row(r)
        conn.execute("CREATE TABLE bench_seeded (n integer)")
        conn.execute("INSERT INTO bench_seeded VALUES (%s)", (n,))
        conn.commit()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE runs")
