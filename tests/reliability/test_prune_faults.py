"""Retention under faults (`orchestrator prune --logs-older-than 30d`, a worker's hourly cut).

- A prune SIGKILLed midway (PostgreSQL: held in its second batch by a row lock, so the kill is
  mid-transaction; SQLite: killed once its first batch shows): every run is cut whole (no line
  left, one "cut" line) or untouched (its lines, no "cut" line), its counts on the row as they
  were; the prune run again cuts the rest, each run once.
- Two prunes racing bulk commands and a worker: tests/reliability/test_bulk_races.py.
- A prune whose clock is 40 days ahead (libfaketime; a worker's hourly cut calls the same
  `prune_observations`) cuts only what the database's clock says is old: not a fresh run, nor one
  a worker whose clock was behind stamped as finished 45 days ago; its line gives the database's day.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import pytest
from sqlalchemy import Connection, Engine, func, insert, select, text

from orchestrator.config import OrchestratorConfig
from orchestrator.db import run_logs, runs
from orchestrator.observe.retention import BATCH, RETENTION_LOGGER
from orchestrator.runs import RunStore
from tests.conftest import missing_tool
from tests.helpers import cli_env, wait_for
from tests.in_process_cli import call_cli, database_args
from tests.reliability.test_pause_and_clock import LIBFAKETIME
from tests.test_store import full_row

OLD = BATCH + 60  # two batches
LINES = 2  # each old run's lines


def seed(store: RunStore, n: int, *, days_ago: float, prefix: str = "old", **row: object) -> list[str]:
    """`n` runs that finished `days_ago` days ago (and were last heard of then), LINES lines each."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    store.insert_many(
        [
            full_row(
                run_id,
                **({"status": "succeeded"} | row),
                created_at=at,
                finished_at=at,
                heartbeat_at=at,
                warnings=1,
            )
            for run_id in ids
        ]
    )
    line = {"task_id": "t", "node": "work", "attempt": 1, "at": at, "level": 30, "logger": "team"}
    with store.engine.begin() as conn:
        conn.execute(
            insert(run_logs), [{**line, "run_id": r, "message": f"{j}"} for r in ids for j in range(LINES)]
        )
    return ids


def lines_and_marks(engine: Engine) -> dict[str, tuple[int, int]]:
    """Each run with lines: (its lines other than the cut's, its "cut" lines)."""
    is_mark = run_logs.c.logger == RETENTION_LOGGER
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                run_logs.c.run_id,
                func.count().filter(~is_mark),
                func.count().filter(is_mark),
            ).group_by(run_logs.c.run_id)
        )
        return {run_id: (kept, marks) for run_id, kept, marks in rows}


def assert_whole_or_untouched(engine: Engine, ids: list[str]) -> int:
    """Every run cut whole or untouched, its counts on the row as they were; how many were cut."""
    found = lines_and_marks(engine)
    states = {run_id: found.get(run_id) for run_id in ids}
    assert set(states.values()) <= {(0, 1), (LINES, 0)}, {
        k: v for k, v in states.items() if v not in {(0, 1), (LINES, 0)}
    }
    with engine.connect() as conn:
        assert set(conn.scalars(select(runs.c.warnings).where(runs.c.run_id.in_(ids)))) <= {1}
    return sum(state == (0, 1) for state in states.values())


@contextmanager
def lock_lines_of(engine: Engine, run_id: str) -> Iterator[Connection]:
    """PostgreSQL: a transaction holding `run_id`'s log lines (a prune deleting them waits)."""
    with engine.connect() as conn, conn.begin():
        conn.execute(select(run_logs.c.id).where(run_logs.c.run_id == run_id).with_for_update())
        yield conn


def cut_so_far(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).where(run_logs.c.logger == RETENTION_LOGGER)) or 0


def test_a_prune_killed_midway_leaves_each_run_whole_or_untouched(store: RunStore, config) -> None:
    ids = seed(store, OLD, days_ago=40)
    engine, postgres = store.engine, store.engine.dialect.name == "postgresql"
    prune = [
        sys.executable,
        "-m",
        "orchestrator",
        "prune",
        "--logs-older-than",
        "30d",
        *database_args(config),
    ]
    with lock_lines_of(engine, ids[-1]) if postgres else nullcontext():
        cli = subprocess.Popen(prune, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(
            lambda: cut_so_far(engine) > 0 or cli.poll() is not None, 60, interval=0.01, what="a first batch"
        )
        if postgres:  # its second batch waits for the lock: killed mid-transaction
            wait_for(lambda: waiting_delete(engine), 30, what="the second batch to wait")
        cli.send_signal(signal.SIGKILL)
        cli.communicate(timeout=10)
    if postgres:
        wait_for(lambda: not waiting_delete(engine, any_state=True), 30, what="its session to end")
        assert assert_whole_or_untouched(engine, ids) == BATCH  # the first batch, whole
    else:
        assert assert_whole_or_untouched(engine, ids) >= BATCH
    again = call_cli("prune", "--logs-older-than", "30d", *database_args(config))
    assert again.code == 0 and again.err == "", again
    assert assert_whole_or_untouched(engine, ids) == OLD


def waiting_delete(engine: Engine, any_state: bool = False) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'DELETE FROM run_logs%' AND (:any OR wait_event_type = 'Lock')"
                ).bindparams(any=any_state)
            )
        )


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite's clock is the writing process's own
def test_a_prune_whose_clock_is_40_days_ahead_cuts_only_what_is_old_by_the_databases_clock(
    store: RunStore, config: OrchestratorConfig, backend: str
) -> None:
    if not LIBFAKETIME.exists():
        missing_tool("libfaketime is not installed (apt-get install faketime)")
    old = seed(store, 1, days_ago=45, prefix="old")
    fresh = seed(store, 1, days_ago=0.01, prefix="fresh")
    # finished by a worker whose clock was 45 days behind: the database's heartbeat says now
    behind = seed(store, 1, days_ago=45, prefix="behind")
    with store.engine.begin() as conn:
        conn.execute(
            runs.update().where(runs.c.run_id == behind[0]).values(heartbeat_at=dt.datetime.now(dt.UTC))
        )
    ahead = subprocess.run(
        [sys.executable, "-m", "orchestrator", "prune", "--logs-older-than", "30d", *database_args(config)],
        env=cli_env(LD_PRELOAD=str(LIBFAKETIME), FAKETIME="+40d", FAKETIME_DONT_RESET="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ahead.returncode == 0 and "of 1 runs finished over 30 days ago" in ahead.stdout, ahead
    found = lines_and_marks(store.engine)
    assert (found[old[0]], found[fresh[0]], found[behind[0]]) == ((0, 1), (LINES, 0), (LINES, 0))
    assert f"cut on {dt.datetime.now(dt.UTC):%Y-%m-%d}" in mark_of(store.engine, old[0])  # the database's day


def mark_of(engine: Engine, run_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.scalar(
                select(run_logs.c.message).where(
                    run_logs.c.run_id == run_id, run_logs.c.logger == RETENTION_LOGGER
                )
            )
        )
