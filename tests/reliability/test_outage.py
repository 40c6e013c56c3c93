"""A PostgreSQL server that stops while workers run fan-outs, two at a time per run.

A throwaway cluster of our own (scripts/pg_cluster.py) is stopped with `pg_ctl stop -m fast`
(every connection cut) and started again later. The workers heartbeat every 0.5 s; the stale
window (a worker's runs are taken for dead after that long without a heartbeat) is set per case:

- an outage within it (2 s of a 9 s window) pauses the runs: no task begins new work while the
  database is away, the same attempt goes on when it is back, and no step runs twice;
- an outage beyond it (5 s of a 3 s window) cuts the runs off: they are queued again and
  continue from their last checkpoints, and no more steps run twice than were working when the
  outage began (at most the fan-out of each run).

In both, every run ends succeeded by itself, its task rows say exactly what LangGraph saved (a
task is succeeded only once its result is saved), the counts equal the rows, and the workers
log the outage in one line each way, never a traceback.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from scripts.pg_cluster import Cluster, bin_dir, unavailable
from tests.checkpoint_reader import saved_task_ids
from tests.conftest import REQUIRE_POSTGRES
from tests.engine_workflows import executions
from tests.helpers import wait_for
from tests.processes import wait_status
from tests.reliability.conftest import WORKFLOWS

FAN_OUT = 2


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if reason := unavailable():
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}; ORCHESTRATOR_REQUIRE_POSTGRES=1 forbids skipping")
        pytest.skip(reason)
    binaries = bin_dir()
    assert binaries is not None
    cluster = Cluster(Path("/tmp") / f"orchestrator-cluster-{uuid.uuid4().hex[:8]}", binaries)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop("immediate")
        import shutil

        shutil.rmtree(cluster.root, ignore_errors=True)


# Within: 7 s of margin for the heartbeat after the restart (a second worker would mark the runs
# of one heard from later than that). Beyond: 2 s past the window, for the worker to notice and
# cut its runs off; the server is back (about 5.2 s in) before the cut runs' requeue try at about
# 6.75 s (0.25, 0.5, 1, 2 s apart from the cut at 3 to 3.5 s), so none waits a 4 s backoff.
@pytest.mark.parametrize(
    ("outage", "stale_after", "worker_names"),
    [(2, 9, ("a", "b")), (5, 3, ("a",))],
    ids=["within", "beyond"],
)
def test_an_outage_pauses_work_and_repeats_at_most_what_was_in_flight(
    cluster: Cluster, workers, tmp_path: Path, outage: int, stale_after: int, worker_names: tuple[str, ...]
) -> None:
    with psycopg.connect(cluster.uri(), autocommit=True) as conn:
        database = f"outage_{uuid.uuid4().hex[:8]}"  # the cluster lives for the module
        conn.execute(f'CREATE DATABASE "{database}"')
    config = OrchestratorConfig(
        checkpoint_mode="postgres", postgres_uri=cluster.uri(database), workflows=WORKFLOWS, env_file=None
    )
    orch = Orchestrator(config)
    try:
        # Two runs wait at a gate that opens during the outage: their steps would begin then.
        gates = [tmp_path / f"gate-{n}" for n in range(2)]
        waiting = [
            orch.launch("gated", {"dir": str(g), "tasks": 8, "allow": 3, "delay_ms": 50, "fan_out": FAN_OUT})
            for g in gates
        ]
        # Three runs are busy when the server stops: 40 steps of 150 ms, two at a time.
        folders = [tmp_path / f"busy-{n}" for n in range(3)]
        busy = [
            orch.launch("gated", {"dir": str(f), "tasks": 40, "delay_ms": 150, "fan_out": FAN_OUT})
            for f in folders
        ]
        env = {"ORCHESTRATOR_HEARTBEAT_SECONDS": "0.5", "ORCHESTRATOR_STALE_AFTER_SECONDS": str(stale_after)}
        pool = [workers(name, config, "--concurrency", "5", **env) for name in worker_names]
        for worker in pool:  # every worker serving before the fault (one still starting under load
            worker.wait_serving(60)  # met the outage at its start, and a start says so and exits)

        def mid_flight() -> bool:
            for worker in pool:
                assert worker.proc.poll() is None, worker.describe()
            runs = orch.store.get_runs(waiting + busy)
            return all(r["status"] == "running" and r["tasks_completed"] >= 3 for r in runs)

        wait_for(mid_flight, 120, interval=0.1, what="all runs running, each 3 steps in")
        orch.engine.dispose()
        cluster.stop("fast")
        before = {folder: sum(executions(folder).values()) for folder in folders + gates}
        for gate in gates:
            gate.mkdir(exist_ok=True)
            (gate / "open").write_text("go")
        time.sleep(outage)  # the fault itself: the database is away this long
        # While it was away, no step began work that it could not save: what finished during
        # the outage is what was working when it began (at most the fan-out of each run).
        during = {f.name: sum(executions(f).values()) - before[f] for f in folders + gates}
        assert all(during[f.name] <= FAN_OUT for f in folders), during
        assert all(during[g.name] == 0 for g in gates), during  # past their gate, none began its work
        for worker in pool:
            assert worker.proc.poll() is None, worker.describe()
        cluster.start()

        for run_id, folder in zip(waiting + busy, gates + folders, strict=True):
            final = wait_status(orch, run_id, ("succeeded", "failed", "cancelled", "interrupted"), 180)
            described = "\n".join(w.describe() for w in pool)
            assert final["status"] == "succeeded", (final["error"], described)
            expected = 8 if run_id in waiting else 40
            tasks = orch.store.get_tasks(run_id)
            # Every step recorded once as succeeded, and exactly the steps whose results LangGraph
            # saved: no row says a task succeeded whose result the outage lost.
            done = [t for t in tasks if t["status"] == "succeeded"]
            assert len(done) == expected + 2, [(t["node"], t["status"], t["attempt"]) for t in tasks]
            work_done = {t["task_id"] for t in done if t["node"] == "work"}
            work_saved = saved_task_ids(config, run_id) & {t["task_id"] for t in tasks if t["node"] == "work"}
            assert work_done == work_saved, [(t["node"], t["status"], t["attempt"]) for t in tasks]
            assert (final["tasks_completed"], final["tasks_failed"]) == (expected + 2, 0)
            assert final["tasks_total"] == len(tasks)
            assert final["state_snapshot"]["summary"]["indices"] == list(range(expected))
            ran = executions(folder)
            twice = sum(count - 1 for count in ran.values())
            if outage < stale_after:
                assert (final["attempt"], final["auto_retries"]) == (1, 0)  # the same attempt went on
                assert twice == 0, ran
            else:
                # Only what was in flight when the outage began: per slot, the step working then
                # and the one before it, if it had ended with its result not yet saved (the next
                # one begins once any write, not only that result, was saved since). CI saw 3.
                assert twice <= 2 * FAN_OUT, ran
        if outage >= stale_after:
            assert any(r["attempt"] > 1 for r in orch.store.get_runs(busy)), "no run was cut off"
        for worker in pool:
            assert worker.proc.poll() is None, worker.describe()
            out = worker.stdout + worker.stderr
            assert "Traceback" not in out, worker.describe()
            assert out.count("Database not answering") <= 3, worker.describe()
        for worker in pool:  # stopped at once
            worker.proc.send_signal(signal.SIGTERM)
        for worker in pool:
            assert worker.proc.wait(30) == 0, worker.describe()
    finally:
        orch.engine.dispose()
