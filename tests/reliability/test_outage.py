"""A PostgreSQL server that stops for a few seconds while two workers run eight runs.

A throwaway cluster of our own (initdb as the `postgres` user, on a free port) is stopped with
`pg_ctl stop -m fast` (every connection cut) and started again 5 s later. Afterwards:
- both workers are still alive and carry on by themselves (no restart, no manual resume);
- every run ends succeeded, the ones cut off by the outage resumed from their checkpoints;
- each run's task counts equal its rows and what LangGraph saved: nothing half-written;
- the outage shows as one line when it starts and one when it ends, not a traceback per beat.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.checkpoint_reader import saved_task_ids
from tests.conftest import REQUIRE_POSTGRES
from tests.helpers import wait_for
from tests.processes import wait_status
from tests.reliability.conftest import WORKFLOWS

# Longer than a checkpoint write waits for a connection (stale_after / 3 = 3 s), shorter than
# the stale limit (9 s): runs writing during the outage are queued again, none is taken for dead.
OUTAGE_SECONDS = 5


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class Cluster:
    """A PostgreSQL cluster in a temporary folder, run as the `postgres` user."""

    def __init__(self, root: Path, bin_dir: Path):
        self.root, self.bin = root, bin_dir
        self.data, self.log = root / "data", root / "server.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        root.mkdir(parents=True, exist_ok=True)
        shutil.chown(root, "postgres", "postgres")
        self._as_postgres(str(bin_dir / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres")

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    bin_dir = _bin_dir()
    reason = None
    if bin_dir is None:
        reason = "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin)"
    elif os.geteuid() != 0 or shutil.which("runuser") is None:
        reason = "starting a throwaway PostgreSQL cluster needs root (to run initdb as the postgres user)"
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"{reason}; ORCHESTRATOR_REQUIRE_POSTGRES=1 forbids skipping")
        pytest.skip(reason)
    assert bin_dir is not None
    root = Path("/tmp") / f"orchestrator-cluster-{uuid.uuid4().hex[:8]}"
    cluster = Cluster(root, bin_dir)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def test_workers_outlive_a_database_restart_and_resume_what_it_cut_off(
    cluster: Cluster, workers, tmp_path: Path
) -> None:
    with psycopg.connect(cluster.uri(), autocommit=True) as conn:
        # Its own database: the cluster lives for the module, and a test may run more than once.
        database = f"outage_{uuid.uuid4().hex[:8]}"
        conn.execute(f'CREATE DATABASE "{database}"')
    config = OrchestratorConfig(
        checkpoint_mode="postgres", postgres_uri=cluster.uri(database), workflows=WORKFLOWS, env_file=None
    )
    orch = Orchestrator(config)
    try:
        gates = [tmp_path / f"gate-{n}" for n in range(4)]
        # Four runs wait at a gate that opens during the outage: their next writes fail.
        waiting = [
            orch.launch("gated", {"dir": str(g), "tasks": 8, "allow": 3, "delay_ms": 50, "fan_out": 2})
            for g in gates
        ]
        # Four runs are busy when the server stops.
        busy = [
            orch.launch("gated", {"dir": str(tmp_path / f"busy-{n}"), "tasks": 40, "delay_ms": 150, "fan_out": 2})
            for n in range(4)
        ]
        env = {"ORCHESTRATOR_HEARTBEAT_SECONDS": "0.5", "ORCHESTRATOR_STALE_AFTER_SECONDS": "9"}
        pair = [workers(name, config, "--concurrency", "4", **env) for name in ("a", "b")]

        def mid_flight() -> bool:
            for worker in pair:
                assert worker.proc.poll() is None, worker.describe()
            runs = orch.store.get_runs(waiting + busy)
            return all(r["status"] == "running" for r in runs) and all(
                r["tasks_completed"] >= 3 for r in runs
            )

        wait_for(mid_flight, 120, interval=0.1, what="all eight runs running, each 3 steps in")
        orch.engine.dispose()
        cluster.stop("fast")
        for gate in gates:
            gate.mkdir(exist_ok=True)
            (gate / "open").write_text("go")
        time.sleep(OUTAGE_SECONDS)  # the fault itself: the database is away this long
        for worker in pair:
            assert worker.proc.poll() is None, worker.describe()
        cluster.start()

        for run_id in waiting + busy:
            final = wait_status(orch, run_id, ("succeeded", "failed", "cancelled", "interrupted"), 180)
            assert final["status"] == "succeeded", (final["error"], pair[0].describe(), pair[1].describe())
            assert final["error"] is None
            tasks = orch.store.get_tasks(run_id)
            expected = 8 if run_id in waiting else 40
            # Every step ran to its end (plan, the steps, summarize), each recorded once as
            # succeeded; the rows include every task LangGraph saved. (A task whose own writes
            # failed during the outage still finished: its step completed with its result.)
            assert sorted(t["status"] for t in tasks) == ["succeeded"] * (expected + 2), (
                [(t["task_id"][:8], t["node"], t["status"], t["attempt"]) for t in tasks],
                pair[0].describe(),
            )
            assert saved_task_ids(config, run_id) <= {t["task_id"] for t in tasks}
            assert (final["tasks_total"], final["tasks_completed"], final["tasks_failed"]) == (
                expected + 2,
                expected + 2,
                0,
            )
            assert final["state_snapshot"]["summary"]["indices"] == list(range(expected))
        retried = [r for r in orch.store.get_runs(waiting + busy) if r["auto_retries"]]
        assert retried, "no run was cut off by the outage; the scenario did not test anything"
        for worker in pair:
            assert worker.proc.poll() is None, worker.describe()
            out = worker.stdout + worker.stderr
            assert "Traceback" not in out, worker.describe()
            assert out.count("Database not answering") <= 3, worker.describe()
        for worker in pair:
            assert worker.terminate() == 0, worker.describe()
    finally:
        orch.engine.dispose()
