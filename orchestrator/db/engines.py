"""One SQLAlchemy engine per backend, its connection settings, and connection errors in words.

Every connection setting lives here, once, with the reason for it: SQLite's PRAGMAs and write
transactions, PostgreSQL's driver options, and the timeouts both use (LangGraph's savers take
theirs from here too).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import DatabaseError

# Seconds a SQLite connection waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Seconds a PostgreSQL connection attempt may take before the server counts as not answering.
CONNECT_TIMEOUT_SECONDS = 5
# Seconds a PostgreSQL session may sit in an open transaction without sending anything before
# the server ends it: a worker frozen mid-transaction (SIGSTOP, a paused VM) would otherwise
# keep its run's row locked, and no other executor could mark the run stale.
IDLE_IN_TRANSACTION_SECONDS = 10
# Bytes of a SQLite file each connection reads through a memory map: the OS's page cache itself,
# shared by every process that has the file open and given back under pressure, rather than a
# read() into the connection's own 2 MB page cache, which the runs page's broad reads at a million
# runs (thousands of rows) overflow every time. Address space only. SQLite caps it at its build's
# limit (2 GB on Linux, macOS, Windows; none where mmap is not to be trusted) and reads the rest
# of a larger file as before. README "Fields at 1,000,000 runs" has the figures.
SQLITE_MMAP_BYTES = 2**31
APPLICATION_NAME = "orchestrator"


def _json_dumps(value: Any) -> str:
    # Keep unicode as is in SQLite's JSON text, so a text search for "é" finds it.
    return json.dumps(value, ensure_ascii=False, default=str)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any, *, read_only: bool = False) -> None:
    # Let SQLAlchemy's "begin" event below start transactions, not pysqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    if not read_only:
        # WAL: readers (the dashboard) never block the writer (the executor), nor it them.
        # (A read-only connection cannot switch the journal mode: it reads whatever it finds.)
        cursor.execute("PRAGMA journal_mode=WAL")
    # Wait for a lock instead of failing at once with "database is locked".
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Safe with WAL (a power cut may lose the last commit, never corrupt) and much faster.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Read the file through the OS's page cache (SQLITE_MMAP_BYTES).
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def _begin_sqlite(conn: Any) -> None:
    # A write transaction takes the write lock up front (IMMEDIATE): a deferred one that reads
    # first and writes later fails with SQLITE_BUSY at once, without waiting for busy_timeout.
    mode = "IMMEDIATE" if conn.get_execution_options().get("sqlite_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def _set_sqlite_pragmas_read_only(dbapi_connection: Any, record: Any) -> None:
    _set_sqlite_pragmas(dbapi_connection, record, read_only=True)


def _sqlite_file_uri(path: str) -> str:
    return "file:" + quote(str(Path(path).expanduser().resolve()), safe="/")


def sqlite_read_only_url(path: str) -> URL:
    """A SQLite URL that opens `path` read-only and never creates it (an SQLite `file:` URI, mode=ro)."""
    return URL.create("sqlite", database=_sqlite_file_uri(path), query={"mode": "ro", "uri": "true"})


def sqlite_read_only_connection(path: str) -> sqlite3.Connection:
    """A sqlite3 connection that can only read `path` and never creates it (for LangGraph's sync saver)."""
    conn = sqlite3.connect(f"{_sqlite_file_uri(path)}?mode=ro", uri=True, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    return conn


def sqlite_file(url: URL) -> str:
    """The file a SQLite URL names (also for a `file:` URI)."""
    database = str(url.database or "")
    return unquote(database.removeprefix("file:")) if url.query.get("uri") else database


def make_engine(config: OrchestratorConfig, *, read_only: bool | None = None) -> Engine:
    """One engine for the configured backend (call once per process and keep it).

    `read_only` (default: the config's) opens SQLite with mode=ro, which creates no file and
    no folder and cannot write, and makes every PostgreSQL transaction READ ONLY.
    """
    url = config.database_url()
    if read_only is None:
        read_only = config.read_only
    if url.get_backend_name() == "sqlite":
        if read_only:
            engine = create_engine(sqlite_read_only_url(config.sqlite_path), json_serializer=_json_dumps)
            event.listen(engine, "connect", _set_sqlite_pragmas_read_only)
            event.listen(engine, "begin", _begin_sqlite)
            return engine
        try:
            Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise describe_connection_error(exc, url) from None
        engine = create_engine(url, json_serializer=_json_dumps)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": APPLICATION_NAME,
        **config.postgres_secret_params(),  # out of the URL, so no repr of the engine shows them
    }
    options = [
        str(url.query.get("options", "")),
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_SECONDS * 1000}",
    ]
    if read_only:
        # The server refuses any write, whatever the code does: a second lock behind RunStore's.
        options.append("-c default_transaction_read_only=on")
    connect_args["options"] = " ".join(o for o in options if o)
    return create_engine(
        url,
        json_serializer=_json_dumps,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args=connect_args,
    )


def backend_label(engine: Engine) -> str:
    """'SQLite' or 'PostgreSQL', as the start-up log lines spell them."""
    return "SQLite" if engine.dialect.name == "sqlite" else "PostgreSQL"


def _first_line(exc: BaseException) -> str:
    message = str(getattr(exc, "orig", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


def _describe_sqlite_error(exc: BaseException, path: str) -> DatabaseError:
    where = Path(path)
    shown_path = repr(str(where))
    detail = _first_line(exc)
    if where.is_dir():
        return DatabaseError(
            f"SQLITE_PATH {shown_path} is a folder, not a database file; set SQLITE_PATH to a file "
            "such as orchestrator.db inside it."
        )
    if "file is not a database" in detail or "malformed" in detail:
        return DatabaseError(
            f"The file {shown_path} is not a SQLite database ({detail}); set SQLITE_PATH to the "
            "orchestrator's database, or move this file away and start again."
        )
    if not where.exists() and "unable to open" in detail:
        return DatabaseError(
            f"The SQLite database {shown_path} does not exist yet; create it with "
            "`python -m orchestrator init` (without ORCHESTRATOR_READ_ONLY), or set SQLITE_PATH."
        )
    if where.exists() and not os.access(where.parent, os.W_OK) and "unable to open" in detail:
        return DatabaseError(
            f"The SQLite database {shown_path} is in a read-only folder, where SQLite cannot make "
            f"the files it needs beside a WAL database even to read it ({detail}); make the folder "
            "writable, or copy the database to one that is."
        )
    if "readonly" in detail or "read-only" in detail:
        return DatabaseError(
            f"The SQLite database {shown_path} is read-only here ({detail}); make the file and its "
            "folder writable, or set ORCHESTRATOR_READ_ONLY=true to only read it."
        )
    if "database is locked" in detail or "database is busy" in detail:
        return DatabaseError(
            f"The SQLite database {shown_path} stayed locked by another process's write for "
            f"{SQLITE_BUSY_TIMEOUT_SECONDS} s ({detail}); try again once it finishes, or use "
            "PostgreSQL for many writers at once."
        )
    if "no such table" in detail:
        return DatabaseError(
            f"The SQLite database {shown_path} has no orchestrator tables ({detail}); create them "
            "with `python -m orchestrator init`."
        )
    return DatabaseError(
        f"Cannot open the SQLite database {shown_path} ({detail}); check that its folder exists "
        "and is writable, or set SQLITE_PATH."
    )


def describe_connection_error(exc: BaseException, url: URL) -> DatabaseError:
    """One sentence, without the password, for a database that cannot be used.

    The URL comes from the config's libpq parse, so its host never holds part of a password;
    only the first line of the driver's message is kept (the server never repeats a password).
    """
    if url.get_backend_name() == "sqlite":
        return _describe_sqlite_error(exc, sqlite_file(url))
    message = _first_line(exc)
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
    if "permission denied" in message or "read-only transaction" in message:
        return DatabaseError(
            f"{where} refused user {url.username!r} ({message}); grant the rights it needs, or set "
            "ORCHESTRATOR_READ_ONLY=true for a role that may only read."
        )
    if "relation" in message and "does not exist" in message:
        return DatabaseError(
            f'database "{name}" on {where} has no orchestrator tables ({message}); create them with '
            "`python -m orchestrator init`."
        )
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated and "connection" not in message.lower():
        return DatabaseError(f"{where} failed: {message}; check the server's log, then try again.")
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
