"""A worker sets up a new database as `init` does, on both backends: a SQLite file that does not
exist yet, an empty PostgreSQL database. It creates our tables (migrated to the package's head)
and LangGraph's, logs the start-up lines, and executes a run launched there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect

from orchestrator.config import OrchestratorConfig
from orchestrator.db import head_version, make_engine, schema_version
from orchestrator.operations import Orchestrator
from tests.processes import Worker, wait_status

# About setting a database up: each test starts from an empty one (tests/conftest.py).
pytestmark = pytest.mark.empty_database

SAVER_TABLES = {
    "sqlite": {"checkpoints", "writes"},
    "postgres": {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"},
}
LABEL = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def test_a_worker_on_a_new_database_sets_it_up_and_runs(
    config: OrchestratorConfig, backend: str, workers: Callable[..., Worker]
) -> None:
    if backend == "sqlite":
        assert not Path(config.sqlite_path).exists()
    engine = make_engine(config)
    try:
        assert schema_version(engine) is None  # nothing set up yet
        worker = workers("new", config)
        worker.wait_serving()
        assert schema_version(engine) == head_version()
        tables = set(inspect(engine).get_table_names())
        assert {"runs", "run_tasks", "run_answers", "workers"} | SAVER_TABLES[backend] <= tables
        for line in (
            f"Initializing checkpointer (mode: {backend})",
            f"✅ Runs table initialized ({LABEL[backend]})",
        ):
            assert line in worker.stdout.splitlines(), worker.describe()

        orch = Orchestrator(config, engine=engine, migrate=False)
        run_id = orch.launch("simulate", {"tasks": 3, "fail_rate": 0})
        run = wait_status(orch, run_id)
        assert (run["status"], run["tasks_completed"]) == ("succeeded", 5), worker.describe()
        assert worker.terminate() == 0, worker.describe()
        assert "Traceback" not in worker.stderr, worker.describe()
    finally:
        engine.dispose()
