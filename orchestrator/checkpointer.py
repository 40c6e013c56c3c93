"""LangGraph's savers opened from the config, and the start-up that logs what it set up.

    >>> async with open_checkpointer(OrchestratorConfig()) as saver:
    ...     graph = builder.compile(checkpointer=saver)

An async saver is bound to the event loop it was opened on: open one per loop. Streamlit's
script threads have no loop, so the dashboard reads checkpoints with `open_sync_saver`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from orchestrator.config import OrchestratorConfig
from orchestrator.db import (
    CONNECT_TIMEOUT_SECONDS,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    backend_label,
    describe_connection_error,
    make_engine,
    saver_setup_lock,
    sqlite_read_only_connection,
    upgrade_schema,
)

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.checkpoint.serde.base import SerializerProtocol

# Each saver, and its driver, is imported where that backend is opened: reading a SQLite
# database's checkpoints (the CLI's `show`) does not import psycopg or the async savers.

logger = logging.getLogger("orchestrator")


def pg_connection_kwargs() -> dict[str, Any]:
    """The settings LangGraph's PostgreSQL savers need on every connection."""
    from psycopg.rows import dict_row

    return {"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0}


@asynccontextmanager
async def open_checkpointer(
    config: OrchestratorConfig, *, max_connections: int = 10, engine: Engine | None = None
) -> AsyncIterator[BaseCheckpointSaver]:
    """Open the configured async saver with its tables set up (logs the first two start-up lines).

    `engine` (else a temporary one) holds the set-up lock on PostgreSQL.
    """
    config.validate()
    logger.info("Initializing checkpointer (mode: %s)", config.checkpoint_mode)
    if config.checkpoint_mode == "sqlite":
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        conn = None
        try:
            conn = await aiosqlite.connect(config.sqlite_path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
        except sqlite3.Error as exc:
            if conn is not None:
                await conn.close()
            raise describe_connection_error(exc, config.database_url()) from None
        try:
            logger.info("✅ AsyncSqliteSaver initialized successfully")
            yield saver
        finally:
            await conn.close()
        return
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg_pool import AsyncConnectionPool, PoolTimeout

    url = config.postgres_url()
    conninfo = config.postgres_conninfo()
    # The pool logs every failed reconnection while the server is away; the executor says
    # once that the database does not answer, and once that it does again.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    try:
        # One direct connection first: a clear error at once instead of a pool retrying.
        await (
            await psycopg.AsyncConnection.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        ).close()
    except psycopg.OperationalError as exc:
        raise describe_connection_error(exc, url) from None
    pool = AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_connections,
        kwargs=pg_connection_kwargs(),
        check=AsyncConnectionPool.check_connection,
        # How long a checkpoint write waits for a connection while the server is away; after
        # that the executor queues the run again, to continue when the database answers.
        timeout=max(1.0, config.stale_after_seconds / 3),
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=10)
    except PoolTimeout as exc:
        await pool.close()
        raise describe_connection_error(exc, url) from None
    lock_engine = engine or make_engine(config)
    try:
        # No pipeline: the saver shares the pool between concurrent runs. (The pool's rows are
        # dicts: pg_connection_kwargs() sets row_factory=dict_row.)
        pg_saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        lock = saver_setup_lock(lock_engine)
        await asyncio.to_thread(lock.acquire)
        try:
            await pg_saver.setup()
        finally:
            await asyncio.to_thread(lock.release)
        logger.info("✅ AsyncPostgresSaver initialized successfully")
        yield pg_saver
    finally:
        await pool.close()
        if engine is None:
            lock_engine.dispose()


def init_runs_tables(engine: Engine) -> None:
    """Create or upgrade `runs` and `run_tasks` (logs the third start-up line)."""
    upgrade_schema(engine)
    logger.info("✅ Runs table initialized (%s)", backend_label(engine))


async def startup(config: OrchestratorConfig, engine: Engine | None = None) -> Engine:
    """Set up the saver's tables and ours, logging the three start-up lines; return the engine."""
    engine = engine or make_engine(config)
    async with open_checkpointer(config, max_connections=1, engine=engine):
        pass
    await asyncio.to_thread(init_runs_tables, engine)
    return engine


@contextmanager
def open_sync_saver(
    config: OrchestratorConfig, *, bulk: bool = False, serde: SerializerProtocol | None = None
) -> Iterator[BaseCheckpointSaver]:
    """A sync saver for reading checkpoints from a thread without an event loop.

    `serde` replaces the saver's serializer (None: LangGraph's own), for a reader that decodes
    less (history's shape-only reading).

    `bulk` (an import, a migration: many small puts, each its own commit, which can all be put
    again) commits without waiting for the disk: SQLite's synchronous=NORMAL, as the engine's
    connections have it (in WAL mode a crash loses at most the last commits, never the file's
    consistency), and PostgreSQL's synchronous_commit=off for this session (the same promise)."""
    config.validate()
    if config.checkpoint_mode == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver
    if config.checkpoint_mode == "sqlite" and config.read_only:
        # Read-only: never create the file, and never run setup() (it creates tables).
        read_conn = sqlite_read_only_connection(config.sqlite_path)
        try:
            reader = SqliteSaver(read_conn, serde=serde)
            reader.is_setup = True
            yield reader
        finally:
            read_conn.close()
        return
    if config.checkpoint_mode == "sqlite":
        # The saver's own from_conn_string, less its serde argument (it takes none).
        with closing(sqlite3.connect(config.sqlite_path, check_same_thread=False)) as sqlite_conn:
            saver = SqliteSaver(sqlite_conn, serde=serde)
            saver.conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
            if bulk:
                saver.conn.execute("PRAGMA synchronous=NORMAL")
            yield saver
        return
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    url = config.postgres_url()
    try:
        conn = psycopg.connect(
            config.postgres_conninfo(), connect_timeout=CONNECT_TIMEOUT_SECONDS, **pg_connection_kwargs()
        )
    except psycopg.OperationalError as exc:
        raise describe_connection_error(exc, url) from None
    with conn:
        if bulk:
            conn.execute("SET synchronous_commit = off")
        yield PostgresSaver(conn, serde=serde)


def setup_saver_tables(config: OrchestratorConfig, engine: Engine) -> None:
    """Create LangGraph's tables with the sync saver (without the start-up log lines), so that
    reading checkpoints works on a database no executor has served yet."""
    with saver_setup_lock(engine), open_sync_saver(config) as saver:
        saver.setup()  # type: ignore[attr-defined]  # SqliteSaver and PostgresSaver have it
