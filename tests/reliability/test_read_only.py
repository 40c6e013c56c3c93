"""Read-only means no write by any entry point (issue #14, item 8).

RunStore refuses every write before a transaction; a read-only Orchestrator opens SQLite
read-only (no file, folder or table created) and never migrates; the CLI's reading commands
never write, even in a writable deployment; the dashboard works against a PostgreSQL role that
may only SELECT.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from orchestrator.checkpointer import startup
from orchestrator.claims import Claim, ClaimStore, TaskEvent
from orchestrator.config import OrchestratorConfig
from orchestrator.db import head_version, make_engine, schema_version, upgrade_schema
from orchestrator.errors import DatabaseError, ReadOnlyError
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.runs import RunStore
from tests.apptest_helpers import execute, main_texts, open_page
from tests.in_process_cli import assert_one_error_line, call_cli, database_args
from tests.reliability.conftest import checksum

# About setting a database up: each test starts from an empty one (tests/conftest.py).
pytestmark = pytest.mark.empty_database

REPO_ROOT = Path(__file__).resolve().parents[2]


def read_only(config: OrchestratorConfig) -> OrchestratorConfig:
    return config.with_read_only()


def files_of(path: Path) -> dict[str, str]:
    """What a write would change: the SQLite file's bytes, its rollback journal, and its
    write-ahead log if that holds anything. (A reader of a WAL database may create an empty
    -wal and the -shm index beside it: SQLite's reading mechanism, not a write.)"""
    found = {}
    for companion in sorted(path.parent.glob(path.name + "*")):
        data = companion.read_bytes()
        if companion.name.endswith("-shm") or (companion.name.endswith("-wal") and not data):
            continue
        found[companion.name] = hashlib.sha256(data).hexdigest()
    return found


@pytest.fixture
def seeded(config: OrchestratorConfig) -> Iterator[tuple[Orchestrator, str]]:
    """A set-up database (savers' tables too) with one finished run that has tasks and checkpoints."""
    orch = Orchestrator(config)
    asyncio.run(startup(config, orch.engine))
    run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 1}, ["seed"])
    execute(orch, [run_id])
    yield orch, run_id
    orch.engine.dispose()


# -- RunStore -----------------------------------------------------------------------------------

# Every write of the run store, the claim store and a claim's fenced run, on read-only stores.
WRITES: dict[str, Callable[[RunStore, ClaimStore, str], Any]] = {
    "create_run": lambda s, c, r: s.create_run("simulate", {"tasks": 1}),
    "insert_many": lambda s, c, r: s.insert_many([{"run_id": "x1", "workflow": "w", "status": "queued"}]),
    "insert_tasks": lambda s, c, r: s.insert_tasks(
        [
            {
                "run_id": r,
                "task_id": "t",
                "node": "n",
                "status": "succeeded",
                "started_at": dt.datetime.now(dt.UTC),
            }
        ]
    ),
    "update_run": lambda s, c, r: s.update_run(r, tags=["changed"]),
    "set_status": lambda s, c, r: s.set_status(r, "cancelled"),
    "delete_run": lambda s, c, r: s.delete_run(r),
    "claim_queued": lambda s, c, r: c.claim_queued("w", 5),
    "heartbeat": lambda s, c, r: c.heartbeat([Claim(r, 0)]),
    "mark_stale_interrupted": lambda s, c, r: c.mark_stale_interrupted(1.0),
    "record_task_events": lambda s, c, r: c.fenced(Claim(r, 0)).record_task_events(
        [TaskEvent("t1", "plan", dt.datetime.now(dt.UTC), "start")]
    ),
    "reconcile_tasks": lambda s, c, r: c.fenced(Claim(r, 0)).reconcile_tasks([]),
    "finish": lambda s, c, r: c.fenced(Claim(r, 0)).finish("succeeded"),
    "release": lambda s, c, r: c.fenced(Claim(r, 0)).release(),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_read_only_store_refuses_every_write_before_a_transaction(engine: Engine, write: str):
    writable = RunStore(engine)
    run_id = writable.create_run("simulate", {"tasks": 1})
    writable.create_run("simulate", {"tasks": 2})  # a queued run to claim
    before = checksum(engine)
    begun: list[object] = []

    def on_begin(conn: sqlalchemy.Connection) -> None:
        if conn.get_execution_options().get("sqlite_write"):  # what RunStore._write marks
            begun.append(conn)

    event.listen(engine, "begin", on_begin)
    try:
        with pytest.raises(ReadOnlyError) as info:
            WRITES[write](RunStore(engine, read_only=True), ClaimStore(engine, read_only=True), run_id)
    finally:
        event.remove(engine, "begin", on_begin)
    assert "read-only" in str(info.value) and "\n" not in str(info.value)
    assert not begun, "a write transaction was opened"
    assert checksum(engine) == before


def test_a_read_only_store_reads(engine: Engine):
    run_id = RunStore(engine).create_run("simulate", {"tasks": 1}, ["r"])
    store = RunStore(engine, read_only=True)
    assert store.get_run(run_id)["tags"] == ["r"]
    assert store.query_runs(RunFilter(text="r")).total == 1
    assert store.count_runs() == 1 and store.get_tasks(run_id) == []


# -- Orchestrator on SQLite: nothing created, nothing migrated ----------------------------------


def sqlite_config(path: Path, **extra: Any) -> OrchestratorConfig:
    return OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None, **extra)


def test_read_only_on_a_missing_sqlite_file_creates_nothing(tmp_path: Path):
    path = tmp_path / "missing" / "orchestrator.db"
    with pytest.raises(DatabaseError) as info:
        Orchestrator(sqlite_config(path, read_only=True))
    assert "does not exist yet" in str(info.value) and "\n" not in str(info.value)
    assert not path.parent.exists()


def test_read_only_on_an_empty_sqlite_file_says_init_and_creates_no_table(tmp_path: Path):
    path = tmp_path / "empty.db"
    sqlalchemy.create_engine(f"sqlite:///{path}").connect().close()  # an empty database file
    before = files_of(path)
    with pytest.raises(DatabaseError) as info:
        Orchestrator(sqlite_config(path, read_only=True))
    assert "has no orchestrator tables yet" in str(info.value)
    assert "python -m orchestrator init" in str(info.value)
    assert files_of(path) == before


def test_read_only_never_migrates_an_old_schema(backend: str, config: OrchestratorConfig):
    engine = make_engine(config)
    upgrade_schema(engine, "0005")
    engine.dispose()
    with pytest.raises(DatabaseError) as info:
        Orchestrator(read_only(config))
    assert "older than" in str(info.value) and head_version() in str(info.value)
    engine = make_engine(config)
    try:
        assert schema_version(engine) == "0005"
    finally:
        engine.dispose()


# The file checks are SQLite's; on PostgreSQL the SELECT-only role's tests prove the same.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_read_only_sqlite_reads_and_refuses_every_operation_without_touching_the_file(seeded, backend):
    orch, run_id = seeded
    path = Path(orch.config.sqlite_path)
    orch.engine.dispose()
    before = files_of(path)
    reader = Orchestrator(read_only(orch.config))
    try:
        assert reader.get_run(run_id)["status"] == "succeeded"
        for operation in (
            lambda: reader.launch("simulate", {"tasks": 1}),
            lambda: reader.cancel(run_id),
            lambda: reader.resume(run_id),
            lambda: reader.approve(run_id, []),
            lambda: reader.reject(run_id),
            lambda: reader.rerun(run_id),
            lambda: reader.delete(run_id),
            lambda: reader.store.update_run(run_id, tags=[]),
        ):
            with pytest.raises(ReadOnlyError):
                operation()
    finally:
        reader.engine.dispose()
    assert files_of(path) == before


# -- the CLI: reading commands never write --------------------------------------------------------


def test_doctor_on_a_missing_sqlite_file_says_so_and_creates_nothing(tmp_path: Path):
    path = tmp_path / "sub" / "orchestrator.db"
    outcome = call_cli("doctor", "--sqlite-path", str(path))
    assert outcome.code == 0, outcome
    assert "does not exist yet" in outcome.out
    assert not path.parent.exists()


@pytest.mark.parametrize("command", [["runs"], ["show", "abc"], ["runs", "--json"]])
def test_reading_commands_on_a_missing_sqlite_file_create_nothing(tmp_path: Path, command: list[str]):
    path = tmp_path / "sub" / "orchestrator.db"
    assert_one_error_line(call_cli(*command, "--sqlite-path", str(path)), "does not exist yet")
    assert not path.parent.exists()


@pytest.mark.parametrize("command", [["show", "abc"], ["runs"], ["doctor"]])
def test_reading_commands_never_migrate(config: OrchestratorConfig, command: list[str]):
    engine = make_engine(config)
    upgrade_schema(engine, "0005")
    before = checksum(engine)
    engine.dispose()
    outcome = call_cli(*command, *database_args(config))
    if command == ["doctor"]:
        assert outcome.code == 0 and "schema version: 0005" in outcome.out, outcome
    else:
        assert_one_error_line(outcome, "older than")
    engine = make_engine(config)
    try:
        assert schema_version(engine) == "0005"
        assert checksum(engine) == before
    finally:
        engine.dispose()


def test_reading_commands_leave_an_uninitialised_sqlite_file_as_it_was(tmp_path: Path):
    path = tmp_path / "plain.db"
    sqlalchemy.create_engine(f"sqlite:///{path}").connect().close()
    before = files_of(path)
    for command in (["show", "abc"], ["runs"]):
        assert_one_error_line(call_cli(*command, "--sqlite-path", str(path)), "no orchestrator tables yet")
    outcome = call_cli("doctor", "--sqlite-path", str(path))
    assert outcome.code == 0 and "schema version: none" in outcome.out, outcome
    assert files_of(path) == before


def test_init_refuses_in_read_only_mode(clean_env, tmp_path: Path):
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    path = tmp_path / "new.db"
    assert_one_error_line(call_cli("init", "--sqlite-path", str(path)), "read-only")
    assert not path.exists()


def test_changing_commands_refuse_in_read_only_mode(seeded, clean_env):
    orch, run_id = seeded
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    before = checksum(orch.engine)
    args = database_args(orch.config)
    for command in (
        ["run", "simulate", "--input", '{"tasks": 1}'],
        ["cancel", run_id],
        ["resume", run_id],
        ["rerun", run_id],
        ["delete", run_id],
        ["approve", run_id, "--value", "[]"],
        ["reject", run_id],
    ):
        assert_one_error_line(call_cli(*command, *args), "read-only")
    assert call_cli("show", run_id, *args).code == 0
    assert checksum(orch.engine) == before


# -- workers (the executor's refusal is the engine's part) ---------------------------------------


def test_executor_refuses_to_start_in_read_only_mode(seeded):
    orch, _ = seeded
    queued = orch.launch("simulate", {"tasks": 1})
    with pytest.raises(ReadOnlyError, match="read-only"):
        Executor(read_only(orch.config), poll_seconds=0.05)
    assert orch.store.get_run(queued)["status"] == "queued"


def test_worker_command_refuses_in_read_only_mode(seeded, tmp_path: Path):
    orch, _ = seeded
    queued = orch.launch("simulate", {"tasks": 1})
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "POSTGRES", "CHECKPOINT"))
    }
    env.update(PYTHONPATH=str(REPO_ROOT), ORCHESTRATOR_READ_ONLY="true")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "worker", "--grace", "0", *database_args(orch.config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=45)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the worker ran in read-only mode:\n{out}\n{err}") from None
    assert proc.returncode == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "read-only" in lines[0], err
    assert orch.store.get_run(queued)["status"] == "queued"


# -- the dashboard, read-only -----------------------------------------------------------------------

PAGES = {"runs": {}, "run_detail": None, "compare": None, "overview": {}}


def assert_pages_render(run_id: str) -> None:
    for page, params in PAGES.items():
        if params is None:
            params = {"run_id": run_id} if page == "run_detail" else {"run_ids": f"{run_id},{run_id}"}
        at = open_page(page, **params)
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        if page == "run_detail":
            history = [df.value for df in at.dataframe if "checkpoint" in df.value.columns]
            assert history and len(history[0]) >= 3, "no checkpoint history"
    at = open_page("launch")
    assert not any(t.value == "Launch a run" for t in at.title)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_read_only_dashboard_on_sqlite_writes_nothing(seeded, clean_env, backend):
    orch, run_id = seeded
    path = Path(orch.config.sqlite_path)
    orch.engine.dispose()
    before = files_of(path)
    clean_env.setenv("SQLITE_PATH", str(path))
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    assert_pages_render(run_id)
    assert files_of(path) == before


def test_read_only_history_on_sqlite_never_sets_up_the_savers_tables(tmp_path: Path, clean_env):
    """A database whose runs tables were made before any executor ran: no `checkpoints` table yet."""
    path = tmp_path / "runs-only.db"
    engine = make_engine(sqlite_config(path))
    upgrade_schema(engine)
    run_id = RunStore(engine).create_run("simulate", {"tasks": 1})
    engine.dispose()
    before = files_of(path)
    clean_env.setenv("SQLITE_PATH", str(path))
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    at = open_page("run_detail", run_id=run_id)
    assert not at.exception, [e.value for e in at.exception]
    assert "No checkpoints: the run has not started yet." in [c.value for c in at.caption]
    assert files_of(path) == before
    tables = set(sqlalchemy.inspect(sqlalchemy.create_engine(f"sqlite:///{path}")).get_table_names())
    assert "checkpoints" not in tables


def test_the_read_only_dashboard_on_a_missing_sqlite_file_says_so(clean_env, tmp_path: Path):
    path = tmp_path / "nothing-here.db"
    clean_env.setenv("SQLITE_PATH", str(path))
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    at = open_page("runs")
    assert not at.exception
    (banner,) = main_texts(at, "error")
    assert "does not exist yet" in banner and "\n" not in banner
    assert not path.exists()


# -- a PostgreSQL role that may only SELECT ---------------------------------------------------------


def select_only_role(database_uri: str) -> Iterator[str]:
    """A LOGIN role with SELECT on every table of the database (trust auth: no password); its URI."""
    role = f"reader_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_uri, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    yield make_url(database_uri).set(username=role, password=None).render_as_string(hide_password=False)
    with psycopg.connect(database_uri, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


@pytest.fixture
def reader_uri(postgres_uri: str) -> Iterator[tuple[str, str]]:
    """A set-up database with one finished run, and the URI of a role that may only SELECT there."""
    config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=postgres_uri, env_file=None)
    orch = Orchestrator(config)
    asyncio.run(startup(config, orch.engine))
    run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 1}, ["seed"])
    execute(orch, [run_id])
    orch.engine.dispose()
    yield from ((uri, run_id) for uri in select_only_role(postgres_uri))


def test_the_dashboard_works_for_a_select_only_postgres_role(reader_uri, clean_env, postgres_uri):
    uri, run_id = reader_uri
    with psycopg.connect(uri) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE runs SET tags = '[]'")  # the role really may not write
    admin = make_engine(
        OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=postgres_uri, env_file=None)
    )
    before = checksum(admin)
    clean_env.setenv("CHECKPOINT_MODE", "postgres")
    clean_env.setenv("POSTGRES_URI", uri)
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    try:
        assert_pages_render(run_id)
        for command in (["runs"], ["show", run_id], ["doctor"]):
            assert call_cli(*command).code == 0, command
        assert checksum(admin) == before
    finally:
        admin.dispose()


def test_reading_commands_work_for_a_select_only_role_without_the_read_only_setting(reader_uri):
    uri, run_id = reader_uri
    args = ["--mode", "postgres", "--postgres-uri", uri]
    for command in (["runs"], ["show", run_id], ["doctor"]):
        outcome = call_cli(*command, *args)
        assert outcome.code == 0 and not outcome.err, (command, outcome)
    assert_one_error_line(call_cli("cancel", run_id, *args), "ORCHESTRATOR_READ_ONLY")


@pytest.fixture
def empty_reader_uri(postgres_uri: str) -> Iterator[str]:
    """A role that may only SELECT, on a database the orchestrator has not set up."""
    yield from select_only_role(postgres_uri)


def test_a_select_only_role_on_a_database_without_the_schema_is_one_sentence(empty_reader_uri, clean_env):
    clean_env.setenv("CHECKPOINT_MODE", "postgres")
    clean_env.setenv("POSTGRES_URI", empty_reader_uri)
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    (banner,) = main_texts(at, "error")
    assert "has no orchestrator tables yet" in banner and "\n" not in banner
    assert_one_error_line(call_cli("runs"), "has no orchestrator tables yet")
