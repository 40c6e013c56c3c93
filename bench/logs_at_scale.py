"""python -m bench.logs_at_scale: a run's logs read at 10 million log lines (issue 26).

Seeds `run_logs` once per backend with N lines (default 10,000,000) and keeps the database for
later runs: a SQLite file `bench/results/logs-<N>.db` and a PostgreSQL database
`observe_logs_<N/1M>m` (`observe_logs_10m`). `--reseed` seeds anew; a kept database is migrated to
the package's head first (as an upgrade would: new indexes are built on its lines).

The lines: a tenth in a few large runs (100,000 lines each: 1,000 tasks of 100 lines), the rest in
runs of 1,000 (100 tasks of 10 lines). Runs are written 16 at a time, 50 lines of each in turn,
as executors write them, so a run's lines are spread over the table, not side by side. 5 % of
the lines are WARNING, 0.5 % ERROR, 0.1 % hold the word "timeout". Seeding is bulk and in bench
code only: SQLAlchemy Core's executemany in batches of 100,000 on SQLite, COPY on PostgreSQL
(through the SQLAlchemy connection's driver), with the indexes built after the rows.

Then it times, with the package's own reads (`ObservationReader`, what run detail and
`orchestrator logs` call), each read on a large run and on a typical one, p50 and p95 of
`--repeats` (each on another run of its kind):

- run detail: a run's newest 500 lines; a task's; from WARNING up; from ERROR up; a search;
  the lines per task (`log_counts`);
- the CLI: a run's first page of 1,000; a task's; `--level ERROR`; `--follow`'s "since id" read
  (the lines after the run's last-but-100 line).

Figures only: nothing here fails on a slow read.

    python -m bench.logs_at_scale                         # 10 M lines, both backends (seeds once)
    python -m bench.logs_at_scale --lines 200000 --backends sqlite   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, func, insert, select, text

from bench.measure import add_backends_argument
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, run_logs, schema_version, upgrade_schema
from orchestrator.observe.reads import ObservationReader

RESULTS = Path(__file__).resolve().parent / "results"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SEED = 26
LARGE_LINES = 100_000  # a large run: 1,000 tasks of 100 lines
LARGE_TASK_LINES = 100
SMALL_LINES = 1_000  # a typical run: 100 tasks of 10 lines
SMALL_TASK_LINES = 10
AT_ONCE = 16  # runs written at the same time
CHUNK = 50  # lines of one run in a row
BATCH = 100_000
NODES = ("plan", "fetch", "work", "review", "report")
LOGGERS = ("myteam.flows", "httpx", "myteam.tools", "langchain_core.callbacks")
WORDS = ("rows", "pages", "items", "records", "files")
LINE_COLUMNS = ("run_id", "task_id", "node", "attempt", "at", "level", "logger", "message")


def layout(lines: int) -> list[tuple[int, int]]:
    """(lines, lines per task) of each run: a tenth of the lines in large runs, the rest typical."""
    large = max(1, lines // 10 // LARGE_LINES) if lines >= 10 * SMALL_LINES else 0
    large_size = min(LARGE_LINES, lines // 10 // large) if large else 0
    runs = [(large_size, LARGE_TASK_LINES)] * large
    runs += [(SMALL_LINES, SMALL_TASK_LINES)] * ((lines - large * large_size) // SMALL_LINES)
    random.Random(SEED).shuffle(runs)
    return runs


def run_id_of(index: int) -> str:
    return f"{index:08x}" + "0" * 24


def task_id_of(run: int, task: int) -> str:
    return f"{run:08x}-{task:04x}-4000-8000-{task * 7919 % 16**12:012x}"


def generate(runs: list[tuple[int, int]]) -> Iterator[tuple[Any, ...]]:
    """The lines in the order they are written: AT_ONCE runs at a time, CHUNK lines of each in turn."""
    rng = random.Random(SEED)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(milliseconds=3)
    waiting = iter(enumerate(runs))
    active: list[list[int]] = []  # [run index, lines, lines per task, written]
    while True:
        while len(active) < AT_ONCE:
            nxt = next(waiting, None)
            if nxt is None:
                break
            active.append([nxt[0], nxt[1][0], nxt[1][1], 0])
        if not active:
            return
        for entry in list(active):
            index, total, per_task, written = entry
            run_id = run_id_of(index)
            for line in range(written, min(written + CHUNK, total)):
                task = line // per_task
                roll = rng.random()
                level = 40 if roll < 0.005 else 30 if roll < 0.055 else 20
                word = "timeout" if rng.random() < 0.001 else WORDS[line % len(WORDS)]
                at += step
                yield (
                    run_id,
                    task_id_of(index, task),
                    NODES[task % len(NODES)],
                    1,
                    at,
                    level,
                    LOGGERS[line % len(LOGGERS)],
                    f"task {task}: step {line % per_task} fetched {rng.randrange(10_000)} {word} "
                    f"from source-{line % 97} in {rng.random():.3f} s",
                )
            entry[3] = written + CHUNK
            if entry[3] >= total:
                active.remove(entry)


def database(backend: str, lines: int) -> tuple[OrchestratorConfig, str]:
    if backend == "sqlite":
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"logs-{lines}.db"
        return OrchestratorConfig(sqlite_path=str(path), env_file=None), str(path)
    name = f"observe_logs_{lines // 1_000_000}m" if lines >= 1_000_000 else f"observe_logs_{lines}"
    uri = f"{PG_SERVER}/{name}"
    return OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None), name


def _exists(backend: str, where: str) -> bool:
    if backend == "sqlite":
        return Path(where).exists()
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (where,)).fetchone() is not None


def _drop(backend: str, where: str) -> None:
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{where}{suffix}").unlink(missing_ok=True)
        return
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{where}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{where}"')


def seeded(engine: Engine) -> int:
    """The lines a finished seed wrote (its marker table), or 0."""
    with engine.connect() as conn:
        try:
            return int(conn.execute(text("SELECT n FROM bench_logs_seeded")).scalar_one())
        except Exception:
            return 0


def seed(engine: Engine, lines: int) -> None:
    """Bulk-insert the lines (the indexes dropped meanwhile and built after), then a marker."""
    started = time.perf_counter()
    rows = generate(layout(lines))
    with engine.begin() as conn:
        for index in run_logs.indexes:
            index.drop(conn)
        if engine.dialect.name == "postgresql":
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY run_logs ({', '.join(LINE_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(dict(zip(LINE_COLUMNS, row, strict=True)))
                if len(batch) == BATCH:
                    conn.execute(insert(run_logs), batch)
                    batch = []
            if batch:
                conn.execute(insert(run_logs), batch)
        inserted = time.perf_counter()
        print(f"  {engine.dialect.name}: inserted {lines:,} lines in {inserted - started:.0f} s")
        for index in run_logs.indexes:
            index.create(conn)
        conn.execute(text("CREATE TABLE bench_logs_seeded (n BIGINT)"))
        conn.execute(text("INSERT INTO bench_logs_seeded VALUES (:n)"), {"n": lines})
        print(f"  {engine.dialect.name}: built the indexes in {time.perf_counter() - inserted:.0f} s")
    _analyze(engine)
    print(f"  {engine.dialect.name}: seeded in {time.perf_counter() - started:.0f} s")


def _analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE run_logs" if engine.dialect.name == "postgresql" else "ANALYZE"))


def open_seeded(backend: str, lines: int, reseed: bool) -> Engine:
    config, where = database(backend, lines)
    if reseed or not _exists(backend, where):
        _drop(backend, where)
    engine = make_engine(config)
    if not seeded(engine):
        _drop(backend, where)
        engine.dispose()
        engine = make_engine(config)
        upgrade_schema(engine)
        seed(engine, lines)
    before = schema_version(engine)
    started = time.perf_counter()
    upgrade_schema(engine)
    if schema_version(engine) != before:
        _analyze(engine)
        print(f"  {backend}: migrated {before} -> head in {time.perf_counter() - started:.0f} s")
    return engine


def size_text(engine: Engine, where: str) -> str:
    if engine.dialect.name == "sqlite":
        return f"{Path(where).stat().st_size / 1e9:.2f} GB"
    with engine.connect() as conn:
        table = conn.execute(text("SELECT pg_table_size('run_logs')")).scalar_one()
        indexes = conn.execute(text("SELECT pg_indexes_size('run_logs')")).scalar_one()
        whole = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    return f"{whole / 1e9:.2f} GB (run_logs {table / 1e9:.2f} GB, its indexes {indexes / 1e9:.2f} GB)"


def reads(reader: ObservationReader, engine: Engine) -> dict[str, Callable[..., Any]]:
    """Each read by name, given a run id: what run detail (newest 500) and the CLI (pages of 1,000)
    do."""

    def a_task(run_id: str) -> str:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    select(run_logs.c.task_id)
                    .where(run_logs.c.run_id == run_id)
                    .order_by(run_logs.c.id.desc())
                    .limit(1)
                ).scalar_one()
            )

    def since(run_id: str) -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(run_logs.c.id)
                    .where(run_logs.c.run_id == run_id)
                    .order_by(run_logs.c.id.desc())
                    .offset(100)
                    .limit(1)
                ).scalar_one()
            )

    def detail(run_id: str, task_id: str | None = None, level: int = 0, search: str = "") -> Any:
        return reader.logs(run_id, task_id=task_id, min_level=level, text=search, limit=500, newest=True)

    def cli(run_id: str, task_id: str | None = None, level: int = 0, after: int = 0) -> Any:
        return reader.logs(run_id, task_id=task_id, min_level=level, after_id=after, limit=1_000)

    return {
        "detail: newest 500": detail,
        "detail: a task's": detail,
        "detail: WARNING up": lambda r: detail(r, level=30),
        "detail: ERROR up": lambda r: detail(r, level=40),
        "detail: search 'timeout'": lambda r: detail(r, search="timeout"),
        "detail: lines per task": reader.log_counts,
        "cli: first 1,000": cli,
        "cli: --task": cli,
        "cli: --level ERROR": lambda r: cli(r, level=40),
        "cli: --follow (since id)": lambda r, a=0: cli(r, after=a),
        "_task": a_task,
        "_since": since,
    }


def measure(engine: Engine, lines: int, repeats: int) -> list[tuple[str, str, float, float, int]]:
    """(read, run kind, p50 ms, p95 ms, rows read) per read and kind of run."""
    runs = layout(lines)
    rng = random.Random(SEED + 1)
    kinds = {
        "large": [i for i, (n, _) in enumerate(runs) if n > SMALL_LINES],
        "typical": [i for i, (n, _) in enumerate(runs) if n == SMALL_LINES],
    }
    table = reads(ObservationReader(engine), engine)
    task_of, since_of = table.pop("_task"), table.pop("_since")
    found = []
    for kind, indexes in kinds.items():
        if not indexes:
            continue
        picks = [run_id_of(rng.choice(indexes)) for _ in range(repeats)]
        tasks = {r: task_of(r) for r in picks}
        since = {r: since_of(r) for r in picks}
        for name, read in table.items():
            times, got = [], 0
            for run_id in [picks[0], *picks]:  # the first: warm-up, not counted
                extra: tuple[Any, ...] = ()
                if "task" in name and "per task" not in name:
                    extra = (tasks[run_id],)
                elif "since" in name:
                    extra = (since[run_id],)
                began = time.perf_counter()
                result = read(run_id, *extra)
                times.append((time.perf_counter() - began) * 1000)
                got = len(result)
            times = times[1:]
            p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
            found.append((name, kind, statistics.median(times), p95, got))
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.logs_at_scale", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    add_backends_argument(parser)
    parser.add_argument("--reseed", action="store_true", help="seed anew even if a seeded database is kept")
    args = parser.parse_args(argv)
    for backend in args.backends:
        engine = open_seeded(backend, args.lines, args.reseed)
        try:
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(run_logs)).scalar_one()
            where = database(backend, args.lines)[1]
            print(
                f"{backend} ({where}): {stored:,} lines, {size_text(engine, where)}, schema "
                f"{schema_version(engine)}; {args.repeats} repeats, load average {os.getloadavg()[0]:.1f}"
            )
            print(f"  {'read':28} {'run':8} {'p50 ms':>8} {'p95 ms':>8} {'rows':>6}")
            for name, kind, p50, p95, got in measure(engine, args.lines, args.repeats):
                print(f"  {name:28} {kind:8} {p50:8.2f} {p95:8.2f} {got:6,}")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
