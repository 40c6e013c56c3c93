"""python -m bench.writes: what the overview's rollup triggers cost each write of a run.

On a copy of the seeded database (N runs), times single-row transactions as the executor makes
them (a task-count update, a status update with its work and wall time, an insert), with the rollup's
triggers and then with them dropped from the copy. Figures only, medians of the repeats.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, insert, select, text, update

from bench import seed
from bench.measure import add_backends_argument
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, runs

SQLITE_TRIGGERS = ("runs_rollup_insert", "runs_rollup_update", "runs_rollup_delete")


def _copy(backend: str, n: int) -> tuple[Engine, Callable[[], None]]:
    """An engine on a throwaway copy of the seeded database, and how to drop the copy."""
    if backend == "sqlite":
        _, path = seed.sqlite_engine(n)
        copy = path.with_name(f"writes-{uuid.uuid4().hex[:8]}.db")
        shutil.copy(path, copy)
        engine = make_engine(
            OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(copy), env_file=None)
        )

        def drop() -> None:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                copy.with_name(copy.name + suffix).unlink(missing_ok=True)

        return engine, drop
    source, _ = seed.postgres_engine(n)
    source.dispose()
    name = f"orchestrator_bench_writes_{uuid.uuid4().hex[:8]}"
    template = seed.postgres_uri(n).rsplit("/", 1)[1]
    with psycopg.connect(f"{seed.PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    engine = make_engine(
        OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=f"{seed.PG_SERVER}/{name}", env_file=None)
    )

    def drop_pg() -> None:
        engine.dispose()
        with psycopg.connect(f"{seed.PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return engine, drop_pg


def _drop_triggers(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for name in SQLITE_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            conn.execute(text("DROP TRIGGER runs_rollup ON runs"))


def _time_writes(engine: Engine, ids: list[str], repeats: int) -> dict[str, float]:
    """Median milliseconds of one write in its own transaction, per kind of write."""
    now = dt.datetime.now(dt.UTC)

    def count_update(i: int) -> Any:
        return (
            update(runs)
            .where(runs.c.run_id == ids[i % len(ids)])
            .values(tasks_completed=runs.c.tasks_completed + 1)
        )

    def status_update(i: int) -> Any:
        return (
            update(runs)
            .where(runs.c.run_id == ids[i % len(ids)])
            .values(
                status="succeeded" if i % 2 else "failed",
                wall_seconds=float(i % 97),
                work_seconds=float(i % 89),
                finished_at=now,
            )
        )

    def new_run(i: int) -> Any:
        return insert(runs).values(
            run_id=uuid.uuid4().hex, workflow="simulate", status="queued", created_at=now, input={}, tags=[]
        )

    out = {}
    for label, write in (
        ("task-count update", count_update),
        ("status update", status_update),
        ("insert", new_run),
    ):
        times = []
        for i in range(repeats):
            start = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(write(i))
            times.append((time.perf_counter() - start) * 1000)
        out[label] = statistics.median(times)
    return out


def measure(backend: str, n: int, repeats: int) -> dict[str, dict[str, float]]:
    engine, drop = _copy(backend, n)
    try:
        with engine.connect() as conn:
            ids = list(conn.execute(select(runs.c.run_id).limit(5000)).scalars())
        with_rollup = _time_writes(engine, ids, repeats)
        _drop_triggers(engine)
        without = _time_writes(engine, ids, repeats)
    finally:
        drop()
    return {"with the rollup's triggers": with_rollup, "without them": without}


def section(n: int, backends: list[str], repeats: int) -> str:
    lines = [
        f"## What the rollup costs a write ({n:,} runs)",
        "",
        "`python -m bench.writes`: one write per transaction through SQLAlchemy, as the executor makes "
        f"them, median of {repeats}; on a copy of the seeded database, with the rollup's triggers and "
        "after dropping them from the copy.",
        "",
        "| backend | write | with triggers ms | without ms | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for backend in backends:
        figures = measure(backend, n, repeats)
        with_rollup, without = figures["with the rollup's triggers"], figures["without them"]
        for label in with_rollup:
            ratio = with_rollup[label] / without[label]
            lines.append(
                f"| {backend} | {label} | {with_rollup[label]:.3f} | {without[label]:.3f} | {ratio:.2f}x |"
            )
            print(
                f"  {backend} {label}: {with_rollup[label]:.3f} ms with, {without[label]:.3f} ms without",
                flush=True,
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.writes", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=500)
    add_backends_argument(parser)
    args = parser.parse_args(argv)
    print(section(args.runs, args.backends, args.repeats))


if __name__ == "__main__":
    main()
