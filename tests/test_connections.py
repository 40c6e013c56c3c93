"""What README.md promises about connections and settings that no other test reads directly:
SQLite's WAL, 30 s busy timeout, foreign keys and write transactions that take the lock up front;
the PostgreSQL saver's pool options; the settings' defaults; a final state's truncation marker.
Each is checked from outside (a plain sqlite3 connection, the pool's own connections)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy
from psycopg.rows import dict_row

from orchestrator.checkpointer import open_checkpointer, startup
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine
from orchestrator.db.engines import SQLITE_MMAP_BYTES
from orchestrator.runs import RunStore
from orchestrator.snapshots import to_jsonable

# About setting a database up: each test starts from an empty one (tests/conftest.py).
pytestmark = pytest.mark.empty_database

NOON = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def sqlite_config(tmp_path: Path) -> OrchestratorConfig:
    return OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(tmp_path / "o.db"), env_file=None)


def test_sqlite_connections_use_wal_a_30_s_busy_timeout_and_foreign_keys(
    sqlite_config: OrchestratorConfig,
) -> None:
    engine = asyncio.run(startup(sqlite_config))
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
        assert pragma == {"journal_mode": "wal", "busy_timeout": 30_000, "foreign_keys": 1}
        # the file read through a memory map, on a read-only engine too (SQLite caps the size at
        # its build's limit: 2 GB in the common builds, 0 where the platform has no use for it)
        with sqlite3.connect(sqlite_config.sqlite_path) as other:
            limit = other.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}").fetchone()[0]
        assert limit > 0
        reader = make_engine(sqlite_config, read_only=True)
        for each in (engine, reader):
            with each.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == limit
        reader.dispose()
        # WAL is the file's: any other connection (LangGraph's saver, a reader) sees it too
        with sqlite3.connect(sqlite_config.sqlite_path) as other:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # foreign keys hold: a task row for no run is refused
        store = RunStore(engine)
        with pytest.raises(sqlalchemy.exc.IntegrityError, match="FOREIGN KEY constraint failed"):
            store.insert_tasks(
                [{"run_id": "none", "task_id": "t", "node": "n", "status": "running", "started_at": NOON}]
            )
    finally:
        engine.dispose()


def test_a_sqlite_write_transaction_takes_the_write_lock_up_front(sqlite_config: OrchestratorConfig) -> None:
    engine = asyncio.run(startup(sqlite_config))
    store = RunStore(engine)
    try:
        # nothing written yet: a deferred transaction would hold no lock
        with (
            store._write(),
            sqlite3.connect(sqlite_config.sqlite_path, timeout=0) as other,
            pytest.raises(sqlite3.OperationalError, match="database is locked"),
        ):
            other.execute("BEGIN IMMEDIATE")
        with sqlite3.connect(sqlite_config.sqlite_path, timeout=0) as other:
            other.execute("BEGIN IMMEDIATE")  # free again once the transaction ended
            other.rollback()
    finally:
        engine.dispose()


def test_the_postgres_saver_pool_connections(postgres_uri: str) -> None:
    config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=postgres_uri, env_file=None)

    async def inspect() -> tuple[bool, object, object, object]:
        async with open_checkpointer(config) as saver:
            pool = saver.conn  # type: ignore[attr-defined]
            async with pool.connection() as conn:
                return conn.autocommit, conn.row_factory, conn.prepare_threshold, saver.pipe  # type: ignore[attr-defined]

    autocommit, row_factory, prepare_threshold, pipe = asyncio.run(inspect())
    assert (autocommit, row_factory, prepare_threshold, pipe) == (True, dict_row, 0, None)


def test_the_settings_defaults(clean_env: pytest.MonkeyPatch) -> None:
    config = OrchestratorConfig()  # no environment, no .env (clean_env)
    assert (config.checkpoint_mode, config.sqlite_path, config.postgres_uri) == (
        "sqlite",
        "orchestrator.db",
        None,
    )
    assert (config.workflows, config.model) == ({}, None)
    assert (config.concurrency, config.read_only) == (4, False)
    assert (config.heartbeat_seconds, config.stale_after_seconds) == (1, 30)


def test_a_long_value_in_a_final_state_is_cut_with_a_marker() -> None:
    state = {"text": "x" * 10_005, "items": list(range(1_003)), "short": "kept"}
    got = to_jsonable(state)
    assert got["text"] == "x" * 10_000 + "…[truncated 5 chars]"
    assert got["short"] == "kept"
    assert got["items"][:1_000] == list(range(1_000)) and len(got["items"]) == 1_001
    assert got["items"][-1] == "…[truncated 3 items]"
