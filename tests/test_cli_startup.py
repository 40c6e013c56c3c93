"""A read does not import what only execution needs: the CLI's `runs`, `show` and `--help` leave
LangGraph's graphs, the workflows, Alembic (on a current database) and pandas unimported.

What is imported decides how long the CLI takes to start (bench/cli_startup.py prints the
figures); this checks the boundary itself, never a timing. Each command runs in a fresh
interpreter (`python -c`, the CLI's main in that process), which then lists sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import OrchestratorConfig
from tests.helpers import cli_env
from tests.in_process_cli import call_cli, database_args

# Runs the CLI with the arguments after the output file, then writes the modules it imported there.
PROBE = """
import json, sys
from orchestrator import cli
try:
    code = cli.main(sys.argv[2:])
except SystemExit as exc:  # --help
    code = exc.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""

# Packages only execution (or another command) needs: none of them may be imported by a read.
EXECUTION_ONLY = ("langgraph", "langchain_core", "langsmith", "jsonschema", "aiosqlite", "psycopg_pool")
NEVER_FOR_A_READ = ("alembic", "pandas", "streamlit", "altair", "pydantic")
OURS_FOR_EXECUTION = (
    "orchestrator.workflows",
    "orchestrator.executor",
    "orchestrator.checkpointer",
    "orchestrator.answers",
    "orchestrator.forks",
    "orchestrator.transfer",
)


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(out.read_text())
    assert probe["code"] == 0, (done.stdout, done.stderr)
    return set(probe["modules"])


def found(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules that are one of `names` or inside one of them."""
    return sorted(m for m in modules if m in names or m.startswith(tuple(f"{n}." for n in names)))


def test_help_imports_no_command_dependencies(tmp_path: Path):
    modules = imported_by(tmp_path, "--help")
    assert found(modules, EXECUTION_ONLY + NEVER_FOR_A_READ + OURS_FOR_EXECUTION + ("psycopg",)) == []


def test_runs_imports_nothing_of_execution(config: OrchestratorConfig, tmp_path: Path):
    modules = imported_by(tmp_path, *database_args(config), "runs", "--limit", "5")
    assert found(modules, EXECUTION_ONLY + NEVER_FOR_A_READ + OURS_FOR_EXECUTION) == []
    assert "sqlalchemy" in modules  # the probe saw the command's imports, not an early exit
    if config.checkpoint_mode == "sqlite":
        assert found(modules, ("psycopg",)) == []  # PostgreSQL's driver: only for PostgreSQL


def test_show_reads_the_run_without_langgraph_and_its_checkpoints_without_graphs(
    config: OrchestratorConfig, tmp_path: Path
):
    ran = call_cli(
        *database_args(config), "run", "simulate", "--input", '{"tasks": 3, "delay_ms": 1}', "--wait"
    )
    assert ran.code == 0, ran
    run_id = ran.out.split("run_id: ", 1)[1].split()[0]

    # `show` reads the run's rows only: nothing of execution, no saver.
    modules = imported_by(tmp_path, *database_args(config), "show", run_id)
    assert found(modules, EXECUTION_ONLY + NEVER_FOR_A_READ + OURS_FOR_EXECUTION + ("orchestrator.history",)) == []
    assert "sqlalchemy" in modules

    # --checkpoints reads them through LangGraph's saver, shape only: its serde revives no stored
    # object (a Send would import langgraph.types, and with it langsmith); no graph is built, no
    # workflow loaded and no migration looked at.
    modules = imported_by(tmp_path, *database_args(config), "show", run_id, "--checkpoints")
    assert "orchestrator.history" in modules
    assert found(modules, ("langgraph.types", "langsmith", "langgraph.graph", "langgraph.pregel")) == []
    assert found(modules, ("jsonschema", "aiosqlite", "alembic", "pandas", "streamlit", "altair")) == []
    assert found(modules, ("orchestrator.workflows", "orchestrator.executor", "orchestrator.transfer")) == []
    if config.checkpoint_mode == "sqlite":
        assert found(modules, ("psycopg", "psycopg_pool", "langgraph.checkpoint.postgres")) == []
    else:  # (LangGraph's PostgreSQL saver package imports psycopg_pool itself)
        assert found(modules, ("langgraph.checkpoint.sqlite",)) == []


def test_show_checkpoints_lists_the_same_history_as_the_pages(config: OrchestratorConfig):
    """The shape-only reading `show --checkpoints` uses names the same checkpoints, writers and
    next nodes as the full reading the pages use (a fan-out run: its checkpoints hold Sends)."""
    from orchestrator.history import checkpoint_history

    ran = call_cli(
        *database_args(config), "run", "simulate", "--input", '{"tasks": 4, "delay_ms": 1}', "--wait"
    )
    assert ran.code == 0, ran
    run_id = ran.out.split("run_id: ", 1)[1].split()[0]
    shown = call_cli(*database_args(config), "show", run_id, "--checkpoints")
    assert shown.code == 0, shown
    listed = json.loads(shown.out)["checkpoints"]

    store_tasks = call_cli(*database_args(config), "show", run_id)
    nodes = {t["task_id"]: t["node"] for t in json.loads(store_tasks.out)["tasks"]}
    full = checkpoint_history(config, run_id, nodes)
    keys = ("checkpoint_id", "step", "source", "writers", "next")
    assert listed == [{k: h[k] for k in keys} for h in full]
    assert any("work" in h["next"] for h in listed)  # the fan-out's Sends were there to skip
    assert "checkpoints" not in json.loads(store_tasks.out)


@pytest.mark.empty_database
def test_a_read_of_an_old_schema_still_refuses_and_a_write_still_migrates(
    config: OrchestratorConfig, tmp_path: Path
):
    """The cheap version check (one SELECT, no Alembic) keeps start-up's promise: a read of a
    database at an older migration says so, and a write upgrades it."""
    from orchestrator.db import head_version, make_engine, schema_version, upgrade_schema

    engine = make_engine(config)
    try:
        upgrade_schema(engine, "0001")
        assert schema_version(engine) == "0001"
        refused = call_cli(*database_args(config), "runs")
        assert refused.code == 1
        assert "has orchestrator schema 0001, older than this package's" in refused.err
        assert call_cli(*database_args(config), "run", "simulate", "--input", '{"tasks": 1}').code == 0
        assert schema_version(engine) == head_version()
        assert imported_by(tmp_path, *database_args(config), "runs") >= {"sqlalchemy"}
    finally:
        engine.dispose()
