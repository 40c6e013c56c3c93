"""One SQLAlchemy engine per backend, its connection settings, and connection errors in words.

Every connection setting lives here, once, with the reason for it: SQLite's PRAGMAs and write
transactions, PostgreSQL's driver options, and the timeouts both use (LangGraph's savers take
theirs from here too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import DatabaseError

# Seconds a SQLite connection waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Seconds a PostgreSQL connection attempt may take before the server counts as not answering.
CONNECT_TIMEOUT_SECONDS = 5
APPLICATION_NAME = "orchestrator"


def _json_dumps(value: Any) -> str:
    # Keep unicode as is in SQLite's JSON text, so a text search for "é" finds it.
    return json.dumps(value, ensure_ascii=False, default=str)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below start transactions, not pysqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL: readers (the dashboard) never block the writer (the executor), nor it them.
    cursor.execute("PRAGMA journal_mode=WAL")
    # Wait for a lock instead of failing at once with "database is locked".
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Safe with WAL (a power cut may lose the last commit, never corrupt) and much faster.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite(conn: Any) -> None:
    # A write transaction takes the write lock up front (IMMEDIATE): a deferred one that reads
    # first and writes later fails with SQLITE_BUSY at once, without waiting for busy_timeout.
    mode = "IMMEDIATE" if conn.get_execution_options().get("sqlite_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(config: OrchestratorConfig) -> Engine:
    """One engine for the configured backend (call once per process and keep it)."""
    url = config.database_url()
    if url.get_backend_name() == "sqlite":
        try:
            Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise describe_connection_error(exc, url) from None
        engine = create_engine(url, json_serializer=_json_dumps)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(
        url,
        json_serializer=_json_dumps,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": APPLICATION_NAME},
    )


def backend_label(engine: Engine) -> str:
    """'SQLite' or 'PostgreSQL', as the start-up log lines spell them."""
    return "SQLite" if engine.dialect.name == "sqlite" else "PostgreSQL"


def describe_connection_error(exc: BaseException, url: URL) -> DatabaseError:
    """One sentence, without the password, for a database that cannot be used."""
    message = str(getattr(exc, "orig", None) or exc)
    if url.get_backend_name() == "sqlite":
        first_line = message.splitlines()[0] if message else type(exc).__name__
        return DatabaseError(
            f"Cannot open the SQLite database {url.database!r} ({first_line}); "
            "check that its folder exists and is writable, or set SQLITE_PATH."
        )
    host, port, name = url.host or "localhost", url.port or 5432, url.database or ""
    where = f"PostgreSQL at {host}:{port}"
    if "does not exist" in message and "database" in message:
        return DatabaseError(
            f'database "{name}" does not exist on {where}; create it with '
            f"`CREATE DATABASE {name};` (e.g. psql -h {host} -p {port} -U {url.username or 'postgres'} "
            f'-c "CREATE DATABASE {name};") and start again.'
        )
    if "password authentication failed" in message or "no password supplied" in message:
        return DatabaseError(
            f"{where} refused the login for user {url.username!r}; check the user name and "
            "password in POSTGRES_URI."
        )
    if "role" in message and "does not exist" in message:
        return DatabaseError(
            f"{where} has no user {url.username!r}; create it or fix the user in POSTGRES_URI."
        )
    return DatabaseError(
        f"{where} does not answer; start the server or fix the host and port in POSTGRES_URI."
    )


def check_database(engine: Engine) -> None:
    """Raise DatabaseError (one sentence, no password) unless the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise describe_connection_error(exc, engine.url) from None
