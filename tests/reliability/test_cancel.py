"""Cancelling running runs on a busy machine ends them `cancelled`, never `interrupted`.

Before the fix, the executor cancelled a run's task again on every heartbeat while it was
still cancelling; the second CancelledError cut its clean-up short, the run stayed `running`
and a later stale check marked it `interrupted` (6 of 7 times on a busy machine). Here two
processes keep both cores busy while a worker holds eight runs, each blocked mid-step, and
every one is cancelled.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.operations import Orchestrator
from tests.helpers import wait_for
from tests.processes import wait_status

RUNS = 8


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Two processes spinning on the CPU for the length of the test."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_cancelling_running_runs_under_load_ends_them_cancelled(
    gated_orch: Orchestrator, workers, tmp_path: Path, busy_machine: None
) -> None:
    orch = gated_orch
    run_ids = [
        orch.launch("gated", {"dir": str(tmp_path / f"g{n}"), "tasks": 6, "allow": 2, "delay_ms": 20})
        for n in range(RUNS)
    ]
    # Heartbeats every 0.2 s: many heartbeats pass while each run stops.
    worker = workers("w", orch.config, "--concurrency", str(RUNS), ORCHESTRATOR_HEARTBEAT_SECONDS="0.2")

    def all_blocked() -> bool:
        assert worker.proc.poll() is None, worker.describe()
        return all(
            r["status"] == "running" and r["tasks_completed"] >= 3 for r in orch.store.get_runs(run_ids)
        )

    wait_for(all_blocked, 120, interval=0.1, what="every run running and blocked mid-step")
    for run_id in run_ids:
        assert orch.cancel(run_id) in ("running", "cancelled")
        assert orch.cancel(run_id) in ("running", "cancelled")  # twice is fine
    for run_id in run_ids:
        run = wait_status(orch, run_id, ("cancelled", "interrupted", "failed", "succeeded"), 120)
        assert (run["status"], run["error"]) == ("cancelled", "Cancelled on request."), worker.describe()
        assert run["finished_at"] is not None
        tasks = orch.store.get_tasks(run_id)
        assert not [t for t in tasks if t["status"] == "running"]
        assert (run["tasks_total"], run["tasks_completed"]) == (
            len(tasks),
            sum(t["status"] == "succeeded" for t in tasks),
        )
    assert worker.terminate() == 0, worker.describe()
    assert "Traceback" not in worker.stdout + worker.stderr
