"""Start-up: the three log lines, the tables it creates, and the CLI's `init` and `doctor`."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.db import head_version, schema_version
from orchestrator.runs import RunStore
from tests.conftest import PASSWORD_ROLE, RIGHT_PASSWORD, WRONG_PASSWORD
from tests.helpers import cli_env

# About setting a database up: each test starts from an empty one (tests/conftest.py).
pytestmark = pytest.mark.empty_database

EXPECTED_LINES = {
    "sqlite": [
        "Initializing checkpointer (mode: sqlite)",
        "✅ AsyncSqliteSaver initialized successfully",
        "✅ Runs table initialized (SQLite)",
    ],
    "postgres": [
        "Initializing checkpointer (mode: postgres)",
        "✅ AsyncPostgresSaver initialized successfully",
        "✅ Runs table initialized (PostgreSQL)",
    ],
}
SAVER_TABLES = {
    "sqlite": {"checkpoints", "writes"},
    "postgres": {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"},
}
OUR_TABLES = {"runs", "run_tasks"}


def orchestrator_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "orchestrator"]


def run_startup(config: OrchestratorConfig) -> sqlalchemy.Engine:
    return asyncio.run(startup(config))


# -- in process -------------------------------------------------------------------------------


def test_startup_logs_exactly_the_three_lines(config, backend, caplog):
    caplog.set_level(logging.INFO, logger="orchestrator")
    engine = run_startup(config)
    engine.dispose()
    assert orchestrator_messages(caplog) == EXPECTED_LINES[backend]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "orchestrator")


def test_startup_creates_saver_tables_and_runs_tables(config, backend):
    engine = run_startup(config)
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        assert SAVER_TABLES[backend] <= tables
        assert tables >= OUR_TABLES
        assert schema_version(engine) == head_version()
    finally:
        engine.dispose()


def test_startup_twice_keeps_data_and_logs_again(config, backend, caplog):
    caplog.set_level(logging.INFO, logger="orchestrator")
    engine = run_startup(config)
    run_id = RunStore(engine).create_run("simulate", {"tasks": 2}, ["again"])
    engine.dispose()
    engine = run_startup(config)
    try:
        assert orchestrator_messages(caplog) == EXPECTED_LINES[backend] * 2
        run = RunStore(engine).get_run(run_id)
        assert run is not None and run["tags"] == ["again"]
        assert schema_version(engine) == head_version()
    finally:
        engine.dispose()


# -- the CLI ----------------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def backend_args(config: OrchestratorConfig) -> list[str]:
    if config.checkpoint_mode == "sqlite":
        return ["--mode", "sqlite", "--sqlite-path", str(config.sqlite_path)]
    return ["--mode", "postgres", "--postgres-uri", str(config.postgres_uri)]


def test_cli_init_prints_the_three_lines_and_creates_the_tables(config, backend, tmp_path):
    result = run_cli("init", *backend_args(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == EXPECTED_LINES[backend]
    assert "Traceback" not in result.stderr
    engine = sqlalchemy.create_engine(config.database_url())
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        assert SAVER_TABLES[backend] | OUR_TABLES <= tables
    finally:
        engine.dispose()


def test_cli_init_and_doctor_read_mode_and_uri_from_dotenv(postgres_uri, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / ".env").write_text(f"CHECKPOINT_MODE=postgres\nPOSTGRES_URI={postgres_uri}\n")
    result = run_cli("init", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == EXPECTED_LINES["postgres"]
    doctor = run_cli("doctor", cwd=folder)
    assert doctor.returncode == 0, doctor.stderr
    assert "mode:           postgres" in doctor.stdout
    assert "(from: .env)" in doctor.stdout  # set in .env, and said so
    assert "database:       answers" in doctor.stdout


def test_cli_doctor_reports_mode_source_schema_and_run_count(config, backend, tmp_path):
    engine = run_startup(config)
    store = RunStore(engine)
    for n in range(3):
        store.create_run("simulate", {"tasks": n})
    engine.dispose()
    result = run_cli("doctor", *backend_args(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"mode:           {backend}" in out
    if backend == "sqlite":
        assert "postgres uri:   - (from: not set)" in out
        assert str(Path(str(config.sqlite_path)).resolve()) in out
    else:
        assert f"postgres uri:   {config.masked_uri()} (from: config)" in out
    assert "database:       answers" in out
    assert f"schema version: {head_version()} (newest: {head_version()})" in out
    assert "runs:           3" in out


def test_cli_doctor_on_an_uninitialized_database_says_to_run_init(config, tmp_path):
    result = run_cli("doctor", *backend_args(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "schema version: none (run: python -m orchestrator init)" in result.stdout
    assert "runs:           0" in result.stdout


def test_cli_doctor_never_shows_the_password(postgres_uri, password_role, tmp_path):
    # The schema is made by the admin; the password role only needs to read it.
    admin_cfg = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=postgres_uri, env_file=None)
    engine = run_startup(admin_cfg)
    RunStore(engine).create_run("simulate", {"tasks": 1})
    engine.dispose()
    with psycopg.connect(postgres_uri, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {PASSWORD_ROLE}")
    database = make_url(postgres_uri).database
    uri = make_url(password_role).set(database=database).render_as_string(hide_password=False)
    assert RIGHT_PASSWORD in uri

    # The two ways of giving the URI, as two processes at once (each spends a second importing).
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "doctor", *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env, args in (
            (cli_env(), ["--mode", "postgres", "--postgres-uri", uri]),
            (cli_env(POSTGRES_URI=uri, CHECKPOINT_MODE="postgres"), []),
        )
    ]
    results = []
    try:
        for proc in started:
            stdout, stderr = proc.communicate(timeout=60)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    finally:
        for proc in started:
            proc.kill()
    for result in results:
        assert result.returncode == 0, result.stderr
        assert RIGHT_PASSWORD not in result.stdout
        assert RIGHT_PASSWORD not in result.stderr
        assert f"{PASSWORD_ROLE}:***@" in result.stdout
        assert "database:       answers" in result.stdout
        assert "runs:           1" in result.stdout
    assert "(from: environment)" in results[1].stdout


def assert_one_sentence_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_cli_doctor_fails_with_one_sentence_for_a_missing_database(postgres_admin, tmp_path):
    name = f"orchestrator_missing_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_admin)
    password = admin.password or "doctor-secret-pw-91"
    uri = admin.set(database=name, password=password).render_as_string(hide_password=False)
    result = run_cli("doctor", "--mode", "postgres", "--postgres-uri", uri, cwd=tmp_path)
    line = assert_one_sentence_error(result)
    assert f'database "{name}" does not exist' in line
    assert f"CREATE DATABASE {name};" in line
    assert password not in result.stdout + result.stderr


def test_cli_doctor_fails_with_one_sentence_for_a_wrong_password(password_role, tmp_path):
    uri = make_url(password_role).set(password=WRONG_PASSWORD).render_as_string(hide_password=False)
    result = run_cli("doctor", "--mode", "postgres", "--postgres-uri", uri, cwd=tmp_path)
    line = assert_one_sentence_error(result)
    assert "refused the login" in line
    output = result.stdout + result.stderr
    assert WRONG_PASSWORD not in output
    assert RIGHT_PASSWORD not in output


def test_cli_init_with_unknown_mode_fails_with_one_sentence(tmp_path):
    result = run_cli("init", "--mode", "mysql", cwd=tmp_path)
    line = assert_one_sentence_error(result)
    assert "Unknown checkpoint_mode: 'mysql'" in line


def test_cli_init_in_postgres_mode_without_uri_fails_with_one_sentence(tmp_path):
    result = run_cli("init", "--mode", "postgres", cwd=tmp_path)
    line = assert_one_sentence_error(result)
    assert "PostgreSQL mode requires POSTGRES_URI" in line
