"""Fixtures: every store and start-up test runs on a SQLite file and on a real PostgreSQL database.

PostgreSQL comes from ORCHESTRATOR_TEST_POSTGRES (default: the local server, trust auth).
Each test gets its own throwaway database (`CREATE DATABASE test_<uuid>`), dropped afterwards.
That database is a copy of one each test process sets up once (the saver's tables and every
migration: `CREATE DATABASE ... TEMPLATE` on PostgreSQL, SQLite's backup API), because setting
one up takes a second or more and most tests are about what happens after start-up. A test about
setting a database up (start-up, migrations, a new or read-only database) is marked
`empty_database` and gets an empty one.
When no server answers the PostgreSQL half is skipped with the reason, unless
ORCHESTRATOR_REQUIRE_POSTGRES=1 (set by .ci/run), which turns that into a failure.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, upgrade_schema
from orchestrator.runs import RunStore
from tests.apptest_helpers import reset_streamlit
from tests.helpers import CONFIG_ENV
from tests.postgres_drops import ADMIN_URI, PostgresDrops, admin_connect
from tests.processes import Worker
from tests.rollup_check import assert_rollup_matches

_modules_frozen = 0
# A test process collects its young objects every 50,000 allocations, not 700, and all of them
# a tenth as often: its tests make many short-lived objects (AppTest's pages, SQLAlchemy's
# statements) and little that is cyclic, and with the defaults the collector took 17-21 s of each
# test process's CPU in the suite. The whole heap is still collected at each freeze below.
gc.set_threshold(50_000, 20, 100)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish() -> None:
    """Once a test has imported modules no test before it did (collection, or AppTest's first page
    and the libraries it brings), leave what is alive then out of later garbage collections: it
    is mostly what lives as long as the process (modules, the test items), and each full
    collection walked its ~300,000 objects again, 0.2-0.4 s a time, about a seventh of a page
    test's time. A module fixture frozen with it is still freed when torn down (reference
    counting); only a reference cycle inside it outlives it."""
    global _modules_frozen
    if len(sys.modules) != _modules_frozen:
        _modules_frozen = len(sys.modules)
        gc.collect()
        gc.freeze()


REQUIRE_POSTGRES = os.environ.get("ORCHESTRATOR_REQUIRE_POSTGRES") == "1"
# Set by .ci/run too: a test that needs a tool the CI machine has (libfaketime, a mount namespace)
# fails instead of skipping when the tool is missing.
REQUIRE_TOOLS = os.environ.get("ORCHESTRATOR_REQUIRE_TOOLS") == "1"


def missing_tool(reason: str) -> None:
    """Skip the test with `reason`, or fail it under ORCHESTRATOR_REQUIRE_TOOLS=1."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{reason}; ORCHESTRATOR_REQUIRE_TOOLS=1 forbids skipping")
    pytest.skip(reason)


BACKENDS = ["sqlite", "postgres"]


_admin_connect = admin_connect


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """The admin URI of a PostgreSQL server that answers (or skip / fail, see module doc)."""
    try:
        _admin_connect().close()
    except psycopg.OperationalError as exc:
        reason = (
            f"PostgreSQL at {make_url(ADMIN_URI).host} does not answer ({str(exc).strip().splitlines()[0]})"
        )
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}; ORCHESTRATOR_REQUIRE_POSTGRES=1 forbids skipping")
        pytest.skip(f"{reason}; set ORCHESTRATOR_TEST_POSTGRES to run the PostgreSQL half")
    return ADMIN_URI


def _create_database(name: str, template: str | None = None) -> None:
    with _admin_connect() as conn:
        if template is None:
            conn.execute(f'CREATE DATABASE "{name}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def _database_uri(name: str) -> str:
    return make_url(ADMIN_URI).set(database=name).render_as_string(hide_password=False)


def _set_up(config: OrchestratorConfig) -> None:
    """What start-up does to a new database: the saver's tables and every migration."""
    asyncio.run(startup(config)).dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: str, postgres_drops: PostgresDrops) -> Iterator[str]:
    """This test process's set-up PostgreSQL database, the template of the tests' databases."""
    name = f"template_{uuid.uuid4().hex[:12]}"
    _create_database(name)
    _set_up(OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=_database_uri(name), env_file=None))
    yield name
    postgres_drops.drop(name)  # after its copies: the copy made ahead is dropped first


@pytest.fixture(scope="session")
def postgres_drops(postgres_admin: str) -> Iterator[PostgresDrops]:
    drops = PostgresDrops()
    yield drops
    drops.close()


# Copies made ahead: two, so that a run of short PostgreSQL tests (each shorter than a copy takes)
# does not wait for each next copy.
COPIES_AHEAD = 2


class PostgresCopies:
    """Copies of this process's template database, each made while the tests before run, and
    dropped while the tests after run (`PostgresDrops`): a test waits for neither. Every test
    still gets a database of its own that nobody used."""

    def __init__(self, template: str, drops: PostgresDrops):
        self.template = template
        self._making = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-copy")
        self._ahead: deque[Future[str]] = deque(self._making.submit(self._copy) for _ in range(COPIES_AHEAD))
        self._drops = drops

    def _copy(self) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        _create_database(name, template=self.template)
        return name

    def take(self) -> str:
        """A new copy's name (the caller gives it back with `drop`)."""
        name = self._ahead.popleft().result()
        self._ahead.append(self._making.submit(self._copy))
        return name

    def drop(self, name: str) -> None:
        self._drops.drop(name)

    def close(self) -> None:
        """Drop the copies made ahead (before the template goes: the drops keep their order)."""
        self._making.shutdown(wait=True)
        for made in self._ahead:
            if made.exception() is None:
                self.drop(made.result())


@pytest.fixture(scope="session")
def postgres_copies(postgres_template: str, postgres_drops: PostgresDrops) -> Iterator[PostgresCopies]:
    copies = PostgresCopies(postgres_template, postgres_drops)
    yield copies
    copies.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This test process's set-up SQLite database, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "orchestrator.db"
    _set_up(OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None))
    return path


def _copy_sqlite(template: Path, path: Path) -> None:
    # The backup API copies a consistent database (a WAL file's pages included).
    with sqlite3.connect(template) as source, sqlite3.connect(path) as copy:
        source.backup(copy)
    source.close()
    copy.close()


@pytest.fixture
def postgres_uri(postgres_drops: PostgresDrops) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped after the test (in the background)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    _create_database(name)
    yield _database_uri(name)
    postgres_drops.drop(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def config(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OrchestratorConfig]:
    """An OrchestratorConfig for the test's backend, on its own database: set up as start-up
    leaves a new one, or empty for a test marked `empty_database`. Afterwards the overview's
    rollup must add up to the runs the test left (tests/rollup_check.py)."""
    empty = request.node.get_closest_marker("empty_database") is not None
    if backend == "sqlite":
        path = tmp_path / "orchestrator.db"
        if not empty:
            _copy_sqlite(request.getfixturevalue("sqlite_template"), path)
        config = OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None)
    elif empty:
        uri = request.getfixturevalue("postgres_uri")
        config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    else:
        copies: PostgresCopies = request.getfixturevalue("postgres_copies")
        name = copies.take()
        request.addfinalizer(lambda: copies.drop(name))
        config = OrchestratorConfig(
            checkpoint_mode="postgres", postgres_uri=_database_uri(name), env_file=None
        )
    yield config
    if backend == "sqlite" and not Path(config.sqlite_path).exists():
        return
    engine = make_engine(config)
    try:
        assert_rollup_matches(engine)
    finally:
        engine.dispose()


@pytest.fixture
def engine(config: OrchestratorConfig):
    engine = make_engine(config)
    upgrade_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine) -> RunStore:
    return RunStore(engine)


# -- a role that must log in with a password (test_config.py, test_startup.py) -----------------

PASSWORD_ROLE = "orchestrator_pw_test"
RIGHT_PASSWORD = "right-pw"
WRONG_PASSWORD = "hunter2-wrong"


@pytest.fixture(scope="session")
def password_role(postgres_admin: str) -> str:
    """The admin URI rewritten for the role `orchestrator_pw_test` with password RIGHT_PASSWORD.

    The server must check that role's password (CI adds
    `host all orchestrator_pw_test 127.0.0.1/32 scram-sha-256` at the top of pg_hba.conf).
    When a wrong password logs in anyway (the server trusts everybody) the test is skipped,
    or fails under ORCHESTRATOR_REQUIRE_POSTGRES=1. Returns the URI with the right password.
    """
    # One test process at a time: two ALTER ROLEs at once fail one with "tuple concurrently
    # updated" (seen under three pytest-xdist workers), two CREATE ROLEs with "already exists".
    with _admin_connect() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (PASSWORD_ROLE,))
        conn.execute("SET LOCAL password_encryption = 'scram-sha-256'")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(f"{verb} ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{RIGHT_PASSWORD}'")
    admin = make_url(postgres_admin)
    right = admin.set(username=PASSWORD_ROLE, password=RIGHT_PASSWORD)
    wrong = admin.set(username=PASSWORD_ROLE, password=WRONG_PASSWORD)
    try:
        psycopg.connect(wrong.render_as_string(hide_password=False), connect_timeout=5).close()
    except psycopg.OperationalError:
        pass
    else:
        reason = (
            f"PostgreSQL at {admin.host} accepts {PASSWORD_ROLE} with a wrong password (no "
            f"pg_hba.conf line `host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256`)"
        )
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}; ORCHESTRATOR_REQUIRE_POSTGRES=1 forbids skipping")
        pytest.skip(reason)
    try:
        psycopg.connect(right.render_as_string(hide_password=False), connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"{PASSWORD_ROLE} cannot log in with the right password: {exc}")
    return right.render_as_string(hide_password=False)


# -- the dashboard's environment (AppTest page tests) ---------------------------------------------


@pytest.fixture(autouse=True)
def no_magic() -> Iterator[None]:
    """As the app's .streamlit/config.toml: no "magic", so no `ast.parse` of the pages in script
    threads (CPython 3.11.7 fails one that races with the executor thread's)."""
    from streamlit import config

    config.set_option("runner.magicEnabled", False)
    yield
    config.set_option("runner.magicEnabled", True)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No config from the outside, no `.env`, no embedded executor; fresh Streamlit caches."""
    monkeypatch.chdir(tmp_path)
    for name in CONFIG_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORCHESTRATOR_EMBEDDED_EXECUTOR", "0")
    reset_streamlit()
    yield monkeypatch
    reset_streamlit()


@pytest.fixture
def app_config(clean_env: pytest.MonkeyPatch, config: OrchestratorConfig) -> OrchestratorConfig:
    """The test's database (conftest's `config`) given to the app through the environment."""
    clean_env.setenv("CHECKPOINT_MODE", str(config.checkpoint_mode))
    if config.checkpoint_mode == "sqlite":
        clean_env.setenv("SQLITE_PATH", str(config.sqlite_path))
    else:
        clean_env.setenv("POSTGRES_URI", str(config.postgres_uri))
    env_config = OrchestratorConfig()
    assert env_config.database_url() == config.database_url()
    return env_config


# -- worker processes -----------------------------------------------------------------------------


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """A factory of worker processes in tmp_path; any still alive are killed at teardown."""
    started: list[Worker] = []

    def start(name: str, config: OrchestratorConfig, *args: str, **env: str) -> Worker:
        worker = Worker(tmp_path, name, config, *args, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
