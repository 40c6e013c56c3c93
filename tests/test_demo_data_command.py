"""`python -m scripts.demo_data`, the README's command to load the demo data set (issue 23), as a
real process on a new SQLite file: it says what it added, and the database holds it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.helpers import REPO_ROOT, cli_env


def test_the_demo_data_command_seeds_the_configured_database(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = subprocess.run(
        [sys.executable, "-m", "scripts.demo_data"],
        cwd=REPO_ROOT,
        env=cli_env(CHECKPOINT_MODE="sqlite", SQLITE_PATH=str(db)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    said = re.search(
        r"Added (\d+) runs .* and (\d+) runs executed for real; the one waiting for approval: (\w+)\.",
        done.stdout,
    )
    assert said, done.stdout
    bulk, real, waiting = int(said[1]), int(said[2]), said[3]
    orch = Orchestrator(OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(db), env_file=None))
    try:
        assert orch.store.count_runs() == bulk + real
        assert bulk >= 300 and real == 5
        assert orch.get_run(waiting)["status"] == "awaiting_input"
    finally:
        orch.engine.dispose()
