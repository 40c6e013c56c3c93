"""db.fast_insert on both backends (an executemany on SQLite, one binary COPY on PostgreSQL): log
rows stored as they were made, in the writer's transaction, and a lost connection raised as
SQLAlchemy raises one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from orchestrator.db import run_logs
from orchestrator.db.fast_insert import stored_rows, stored_utc
from orchestrator.observe.capture import LOG_COLUMNS, log_rows
from orchestrator.outage import is_transient

MESSAGES = [
    "plain",
    "a\ttab, a\nnewline, a \\ backslash and \\N",
    "ünïcödé ✓ 𝄞",
    "",
    "'); DROP TABLE run_logs; --",
    "x" * 10_000,
]
BEGAN = 1_700_000_000.25


def rows(engine: Engine, run_id: str) -> list[tuple[Any, ...]]:
    lines = [
        (f"task-{i}", "work", BEGAN + i * 0.001, 20 + 10 * (i % 3), "team.logger", message)
        for i, message in enumerate(MESSAGES)
    ]
    return log_rows(run_id, 2, lines, stored_utc(engine.dialect))


def count(engine: Engine, run_id: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).where(run_logs.c.run_id == run_id)) or 0


def test_log_rows_are_stored_as_they_were_made(engine: Engine) -> None:
    with engine.begin() as conn:
        stored_rows(engine.dialect, run_logs, LOG_COLUMNS, rows(engine, "r1")).insert(conn)
        stored_rows(engine.dialect, run_logs, LOG_COLUMNS, []).insert(conn)  # nothing to write
    with engine.connect() as conn:
        got = conn.execute(select(run_logs).where(run_logs.c.run_id == "r1").order_by(run_logs.c.id)).all()
    assert [row.message for row in got] == MESSAGES  # in the order made, each byte as it was
    assert [(row.task_id, row.node, row.attempt, row.level, row.logger) for row in got] == [
        (f"task-{i}", "work", 2, 20 + 10 * (i % 3), "team.logger") for i in range(len(MESSAGES))
    ]
    for i, row in enumerate(got):
        want = dt.datetime.fromtimestamp(BEGAN + i * 0.001, dt.UTC)
        assert abs(row.at - want) < dt.timedelta(microseconds=2), (row.at, want)


def test_the_rows_are_part_of_the_writers_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        stored_rows(engine.dialect, run_logs, LOG_COLUMNS, rows(engine, "r2")).insert(conn)
        raise RuntimeError("the fence refused: the claim is lost")
    assert count(engine, "r2") == 0


@pytest.mark.parametrize("backend", ["postgres"])  # a session the server ends: SQLite has none
def test_a_lost_connection_is_raised_as_sqlalchemy_raises_one(engine: Engine, backend: str) -> None:
    ready = stored_rows(engine.dialect, run_logs, LOG_COLUMNS, rows(engine, "r3"))
    with pytest.raises(DBAPIError) as raised, engine.begin() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
        with engine.connect() as other:
            assert other.scalar(text("SELECT pg_terminate_backend(:pid, 10000)").bindparams(pid=pid))
        ready.insert(conn)
    assert raised.value.connection_invalidated and is_transient(raised.value)
    with engine.begin() as conn:  # the pool gives a live connection again; the batch goes in whole
        ready.insert(conn)
    assert count(engine, "r3") == len(MESSAGES)
