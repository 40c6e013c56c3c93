"""A field's index build under faults (`orchestrator index add|drop FIELD`), on both backends.

- The CLI process SIGKILLed mid-build (PostgreSQL: held in CREATE INDEX CONCURRENTLY's wait for
  a writer's open transaction; SQLite: waiting for the write lock). Its server session, which
  goes on without it, is either terminated (an outage: the index is left INVALID) or allowed to
  finish (the first index is left valid, its twin never made). Either way `index list` does not
  list the field, a page reads the right runs, and `index add` run again finishes: both
  indexes valid, the field listed once, read by the plan.
- Two `index add` of one field and a `drop` released together, while a worker writes runs:
  each exits 0 with its sentence, one row for the field at most, and the catalog agrees with it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, text, update

from orchestrator.db.field_indexes import index_names
from orchestrator.db.schema import field_indexes, runs
from orchestrator.operations import Orchestrator
from orchestrator.runs import RunStore
from tests.helpers import cli_env, wait_for
from tests.in_process_cli import call_cli, database_args
from tests.processes import CliRace
from tests.test_field_indexes import BEST, BEST_IDS, FORTY, plan_text

FIELD = "metrics.accuracy"


def catalog(engine: Engine) -> dict[str, bool]:
    """The package's field indexes on `runs` in the catalog: name -> valid (usable by reads)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE i.indrelid = 'runs'::regclass"
                )
            )
        else:
            rows = conn.execute(text("SELECT name, 1 FROM sqlite_master WHERE type = 'index'"))
        # input.tasks's own (0017, and SQLite's number index every upgrade builds) are not the test's.
        builtin = set(index_names("input.tasks", engine.dialect.name))
        return {
            name: bool(valid)
            for name, valid in rows
            if name.startswith(("ix_runs_f_", "ix_runs_pg_f_")) and name not in builtin
        }


def listed(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(field_indexes.c.field).where(field_indexes.c.field == FIELD)))


@contextmanager
def writer_holding_runs(engine: Engine) -> Iterator[Connection]:
    """An open transaction that wrote a run (what a worker's transaction is, held still): a
    concurrent build waits for it; SQLite's writers all wait for it."""
    with engine.connect() as conn:
        conn.execution_options(sqlite_write=True)
        with conn.begin():
            conn.execute(update(runs).where(runs.c.run_id == "r00").values(error="held"))
            yield conn


def build_session(engine: Engine) -> int | None:
    """PostgreSQL: the server process building the index (waiting), else None."""
    with engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'"
            )
        )


def turn_takers(engine: Engine) -> set[int]:
    """PostgreSQL: the sessions that last asked for a field's lock (a bigint key: the set-up
    locks' are integers) or drop an index."""
    with engine.connect() as conn:
        return set(
            conn.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND (query LIKE '%pg_try_advisory_lock($1::BIGINT)%' OR query LIKE 'DROP INDEX%')"
                )
            )
        )


def both_past_their_check(engine: Engine, race: CliRace) -> bool:
    """PostgreSQL: one add builds (waiting for the writer) and the other waits its turn for the
    field's lock (or, without one, builds it too, or failed and drops what it found)."""
    finished = any((race.folder / f"code-{n}").exists() for n in race.procs)
    with engine.connect() as conn:
        builds = conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'"
            )
        )
    return builds >= 1 and (finished or builds >= 2 or bool(turn_takers(engine)))


def has_open(pid: int, path: str) -> bool:
    """Whether process `pid` has the file at `path` open (then its build waits for the writer)."""
    target = str(Path(path).resolve())
    fds = Path(f"/proc/{pid}/fd")
    return any(str(fd.resolve()) == target for fd in fds.iterdir()) if fds.exists() else False


def index_add(config, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "index", "add", FIELD, *more, *database_args(config)],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


WAITING = f"{FIELD}: another index command (or one stopped midway) is at work on it; waiting for it"


def said(outcome: tuple[int, str, str]) -> tuple[int, str, str]:
    """A command's exit code, its last line and its stderr; a line before it may only say that
    it waited for another command on the field."""
    code, out, err = outcome
    *before, last = out.splitlines() or [""]
    assert set(before) <= {WAITING}, out
    return code, last, err


def assert_indexed_and_read(store: RunStore) -> None:
    names = index_names(FIELD, store.engine.dialect.name)
    assert {n: v for n, v in catalog(store.engine).items()} == dict.fromkeys(names, True)
    assert listed(store.engine) == [FIELD]
    plan = plan_text(store.engine, BEST, FIELD)
    assert any(name in plan for name in names), plan
    store.forget_plans()
    assert [r["run_id"] for r in store.page_runs(BEST, limit=50)] == BEST_IDS


# SQLite's build has no session of its own that outlives the process: one case there.
@pytest.mark.parametrize(
    ("backend", "outage"),
    [("sqlite", True), ("postgres", True), ("postgres", False)],
    ids=["sqlite", "postgres-session-terminated", "postgres-session-finished"],
)
def test_a_build_killed_midway_is_not_listed_nor_read_and_a_rerun_finishes_it(
    store: RunStore, config, outage: bool, backend: str
) -> None:
    store.insert_many(FORTY)
    engine = store.engine
    with writer_holding_runs(engine):
        cli = index_add(config)
        if engine.dialect.name == "postgresql":
            pid = wait_for(lambda: build_session(engine), 30, what="the build to wait for the writer")
            assert not any(catalog(engine).values())  # made in the catalog, not valid: no read uses it
        else:
            wait_for(lambda: has_open(cli.pid, str(config.sqlite_path)), 30, what="the CLI to open the file")
        cli.send_signal(signal.SIGKILL)
        cli.wait(10)
        if engine.dialect.name == "postgresql" and outage:
            with engine.connect() as conn:
                assert conn.scalar(select(text("pg_terminate_backend(:pid)")).params(pid=pid))
    if engine.dialect.name == "postgresql":
        wait_for(lambda: not _building(engine), 30, what="the build's session to end")
        # terminated: an INVALID index is left; finished: the first index is valid, its twin never made
        assert catalog(engine) == {index_names(FIELD, "postgresql")[0]: not outage}
    assert listed(engine) == []  # `index list` does not claim it
    assert FIELD not in call_cli(*database_args(config), "index", "list").out
    assert [r["run_id"] for r in store.page_runs(BEST, limit=50)] == BEST_IDS
    again = call_cli(*database_args(config), "index", "add", FIELD)
    assert said((again.code, again.out, again.err)) == (0, f"{FIELD}: indexed", "")
    assert_indexed_and_read(store)


def _building(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND state = 'active'"
                )
            )
        )


@pytest.mark.parametrize("backend", ["postgres"])  # a session the server ends: SQLite has none
def test_an_outage_of_the_builds_connection_is_one_sentence_and_a_rerun_finishes(
    store: RunStore, config, backend: str
) -> None:
    store.insert_many(FORTY)
    engine = store.engine
    with writer_holding_runs(engine):
        cli = index_add(config)
        pid = wait_for(lambda: build_session(engine), 30, what="the build to wait for the writer")
        with engine.connect() as conn:
            assert conn.scalar(select(text("pg_terminate_backend(:pid)")).params(pid=pid))
    out, err = cli.communicate(timeout=30)  # its drop of what it left waits for the writer to end
    assert cli.returncode == 1 and "Traceback" not in err + out, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert listed(engine) == [] and not any(catalog(engine).values())
    assert call_cli(*database_args(config), "index", "add", FIELD).code == 0
    assert_indexed_and_read(store)


def test_adds_and_a_drop_racing_while_a_worker_writes_agree_with_the_catalog(
    store: RunStore, config, tmp_path: Path, workers
) -> None:
    """Two `index add` released together while a writer holds `runs` (each build must wait for
    it), a worker writing runs meanwhile: one builds, the other says it already is; then a
    `drop` and an `add` together: whichever goes last decides, and the catalog agrees."""
    store.insert_many(FORTY)
    engine, db = store.engine, database_args(config)
    orch = Orchestrator(config)
    worker = workers("w", config, "--concurrency", "2")
    orch.launch_copies("simulate", {"tasks": 10, "fail_rate": 0, "delay_ms": 20}, copies=3)
    orch.engine.dispose()
    add = ["index", "add", FIELD, *db]
    race = CliRace(tmp_path / "adds", {"add1": add, "add2": add})
    then = CliRace(tmp_path / "add-drop", {"add": add, "drop": ["index", "drop", FIELD, *db]})  # starts now
    worker.wait_serving()
    race.ready()
    with writer_holding_runs(engine):
        (race.folder / "go").touch()
        if engine.dialect.name == "postgresql":
            wait_for(lambda: both_past_their_check(engine, race), 30, what="both adds past their check")
        else:
            wait_for(lambda: all(has_open(p.pid, str(config.sqlite_path)) for p in race.procs.values()), 30)
    outcomes = {name: said(outcome) for name, outcome in race.go().items()}
    assert sorted(outcomes.values()) == [(0, f"{FIELD}: already indexed", ""), (0, f"{FIELD}: indexed", "")]
    assert_indexed_and_read(store)
    outcomes = {name: said(outcome) for name, outcome in then.go().items()}
    assert outcomes["drop"] == (0, f"{FIELD}: index dropped", ""), outcomes
    if outcomes["add"] == (0, f"{FIELD}: indexed", ""):  # the drop went first
        assert_indexed_and_read(store)
    else:  # the add went first
        assert outcomes["add"] == (0, f"{FIELD}: already indexed", ""), outcomes
        assert listed(engine) == [] and catalog(engine) == {}
