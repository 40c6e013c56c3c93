"""`python -m orchestrator worker` as real processes: crash recovery, a shared queue, shutdown.

Workers are started with the database in their environment (CHECKPOINT_MODE, SQLITE_PATH or
POSTGRES_URI) and short heartbeats, their stdout and stderr written to files in tmp_path. Every
worker a test starts is killed at teardown if it is still alive.
"""

from __future__ import annotations

import datetime as dt
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from sqlalchemy.engine import make_url

from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, upgrade_schema
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from tests.conftest import PostgresCopies
from tests.engine_workflows import executions
from tests.helpers import wait_for, with_workflows
from tests.processes import Worker, wait_status


def finished_work(orch: Orchestrator, run_id: str) -> list[dict]:
    return [t for t in orch.store.get_tasks(run_id) if t["node"] == "work" and t["status"] == "succeeded"]


# -- two workers share one PostgreSQL queue -------------------------------------------------------


SHARED_RUNS = 50
SHARED_CONCURRENCY = 4


@pytest.fixture(scope="module")
def shared_queue(
    postgres_admin: str, postgres_copies: PostgresCopies, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Queue 50 runs on a PostgreSQL database, let two worker processes empty the queue, stop them.

    Yields the run ids, the two workers, their exit codes, the runs' rows and task rows, and the
    most runs one worker held at once (sampled while they ran)."""
    # A copy of the set-up template (conftest): LangGraph's tables are there before the workers
    # start (two setting them up at once is test_two_workers_starting_together_...'s race).
    name = postgres_copies.take()
    uri = make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
    config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    directory = tmp_path_factory.mktemp("shared-queue")
    orch = Orchestrator(config)
    procs: list[Worker] = []
    try:
        run_ids = orch.launch_copies(
            "simulate", {"tasks": 3, "delay_ms": 20}, ["shared-queue"], copies=SHARED_RUNS
        )
        for worker_name in ("a", "b"):
            procs.append(Worker(directory, worker_name, config, "--concurrency", str(SHARED_CONCURRENCY)))
        held: Counter[str] = Counter()

        def all_done() -> bool:
            for proc in procs:
                assert proc.proc.poll() is None, proc.describe()
            page = orch.store.query_runs(RunFilter(statuses=["running"]), limit=SHARED_RUNS)
            for worker, n in Counter(r["worker"] for r in page.rows).items():
                held[worker] = max(held[worker], n)
            counts = orch.store.count_by_status()
            assert counts["failed"] == counts["cancelled"] == counts["interrupted"] == 0, counts
            return counts["succeeded"] == SHARED_RUNS

        wait_for(all_done, 60, interval=0.05, what=f"{SHARED_RUNS} succeeded runs")
        for proc in procs:  # both at once, then their exit codes
            proc.proc.send_signal(signal.SIGTERM)
        exits = [proc.proc.wait(30) for proc in procs]
        yield {
            "run_ids": run_ids,
            "a": procs[0],
            "b": procs[1],
            "exits": exits,
            "runs": orch.store.get_runs(run_ids),
            "tasks": {run_id: orch.store.get_tasks(run_id) for run_id in run_ids},
            "max_held": max(held.values()),
        }
    finally:
        for proc in procs:
            proc.kill()
        orch.engine.dispose()
        postgres_copies.drop(name)  # in the background, WITH (FORCE)


def test_two_postgres_workers_execute_each_run_exactly_once(shared_queue: dict[str, Any]) -> None:
    a, b = shared_queue["a"], shared_queue["b"]
    assert shared_queue["exits"] == [0, 0], a.describe() + b.describe()
    claimed_a, claimed_b = a.claimed(), b.claimed()
    both = Counter(claimed_a + claimed_b)
    assert set(both) == set(shared_queue["run_ids"])
    assert set(both.values()) == {1}, [r for r, n in both.items() if n > 1]
    for run in shared_queue["runs"]:
        assert run["status"] == "succeeded"
        assert run["tasks_total"] == run["tasks_completed"] == 5 and run["tasks_failed"] == 0
        owner = a if run["run_id"] in claimed_a else b
        assert run["worker"].split(":")[1] == str(owner.proc.pid)
        tasks = shared_queue["tasks"][run["run_id"]]
        assert len(tasks) == 5
        assert Counter(t["node"] for t in tasks) == {"plan": 1, "work": 3, "summarize": 1}


def test_two_postgres_workers_share_the_queue(shared_queue: dict[str, Any]) -> None:
    a, b = shared_queue["a"], shared_queue["b"]
    assert shared_queue["max_held"] <= SHARED_CONCURRENCY
    assert a.claimed() and b.claimed(), "one worker claimed every run"


def test_two_workers_starting_together_on_a_fresh_postgres_database(postgres_uri: str, workers) -> None:
    """Both workers must come up. To make the race deterministic the test holds an uncommitted
    `v = 0` row in LangGraph's (empty) checkpoint_migrations table until both workers are setting
    up (one waits on that row, the other for the set-up lock), then rolls it back; nothing the
    test writes there is ever committed."""
    config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=postgres_uri, env_file=None)
    engine = make_engine(config)
    upgrade_schema(engine)  # only the runs tables: LangGraph's are made by whoever starts first
    engine.dispose()
    with psycopg.connect(postgres_uri, autocommit=True) as admin:
        admin.execute(AsyncPostgresSaver.MIGRATIONS[0])  # LangGraph's own CREATE TABLE IF NOT EXISTS
        with psycopg.connect(postgres_uri) as holder:
            holder.execute("INSERT INTO checkpoint_migrations (v) VALUES (0)")
            a = workers("a", config, "--concurrency", "1")
            b = workers("b", config, "--concurrency", "1")

            def both_setting_up() -> bool:
                for worker in (a, b):
                    assert worker.proc.poll() is None, worker.describe()
                started = all("Initializing checkpointer (mode: postgres)" in w.stdout for w in (a, b))
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()
                return started and row[0] >= 1

            wait_for(both_setting_up, 30, what="both workers to be setting up, one waiting on the row")

            def the_other_polls_the_set_up_lock() -> bool:
                # A session's last statement stays in pg_stat_activity while it idles between polls.
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query ILIKE '%pg_try_advisory_lock%' AND state = 'idle'"
                ).fetchone()
                return row[0] >= 1

            wait_for(the_other_polls_the_set_up_lock, 30, what="the other worker polling the set-up lock")
            holder.rollback()
    a.wait_serving()
    b.wait_serving()
    for worker in (a, b):  # both at once, then their exit codes
        worker.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(30) == 0, a.describe()
    assert b.proc.wait(30) == 0, b.describe()


# -- SIGTERM: finish what fits in the grace period, release the rest, exit 0 ------------------------


def test_sigterm_finishes_or_releases_runs_in_flight(config: OrchestratorConfig, workers, tmp_path) -> None:
    """Two runs held at gates: one gate opens once the worker is in its grace period (that run
    finishes), the other never does (that run goes back to the queue when the grace ends)."""
    config = with_gated(config)
    orch = Orchestrator(config)
    short_gate, long_gate = tmp_path / "short", tmp_path / "long"
    short_gate.mkdir()
    long_gate.mkdir()
    try:
        short = orch.launch("gated", {"dir": str(short_gate), "tasks": 2, "allow": 0, "delay_ms": 0})
        long = orch.launch("gated", {"dir": str(long_gate), "tasks": 2, "allow": 0, "delay_ms": 0})
        # The grace period is waited out in full (the long run's gate never opens): long enough
        # for the short run's last steps once its gate opens, even on a loaded machine.
        worker = workers("w", config, "--concurrency", "2", "--grace", "3")
        wait_status(orch, short, ("running",))
        wait_status(orch, long, ("running",))
        worker.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "Waiting up to 3 s for 2 running runs" in worker.stdout, what="the grace period")
        signalled = dt.datetime.now(dt.UTC)
        (short_gate / "open").touch()
        assert worker.proc.wait(60) == 0, worker.describe()

        # The short run finished during the grace period ...
        done = orch.get_run(short)
        assert done["status"] == "succeeded", done["error"]
        assert done["finished_at"] is not None and done["finished_at"] > signalled
        assert done["tasks_completed"] == 4  # plan, two `work`, summarize
        # ... the long one went back to the queue for the next executor, its task rows closed.
        released = orch.get_run(long)
        assert released["status"] == "queued"
        assert released["worker"] is None and released["finished_at"] is None
        assert not [t for t in orch.store.get_tasks(long) if t["status"] == "running"]
        assert f"Run {long} released back to the queue" in worker.stdout
        assert set(worker.claimed()) == {short, long}
        assert executions(long_gate) == {}
        assert "Traceback" not in worker.stderr
    finally:
        orch.engine.dispose()


# -- SIGINT: the same as SIGTERM, set up with a gate instead of timing ------------------------------

GATED = {"gated": "tests.engine_workflows:build_gated"}


def with_gated(config: OrchestratorConfig) -> OrchestratorConfig:
    return with_workflows(config, GATED)


def test_sigint_lets_a_run_finish_within_the_grace_period(
    config: OrchestratorConfig, workers, tmp_path
) -> None:
    config = with_gated(config)
    orch = Orchestrator(config)
    gate = tmp_path / "gate"
    gate.mkdir()
    try:
        # Every `work` step waits for <gate>/open, so the run is still going when the signal comes.
        run_id = orch.launch("gated", {"dir": str(gate), "tasks": 2, "allow": 0, "delay_ms": 0})
        worker = workers("w", config, "--concurrency", "1", "--grace", "120")
        wait_status(orch, run_id, ("running",))
        worker.proc.send_signal(signal.SIGINT)
        wait_for(lambda: "Waiting up to 120 s for 1 running runs" in worker.stdout, what="the grace period")
        (gate / "open").touch()
        assert worker.proc.wait(60) == 0, worker.describe()
        run = orch.get_run(run_id)
        assert run["status"] == "succeeded", run["error"]
        assert run["state_snapshot"]["summary"] == {"count": 2, "indices": [0, 1]}
        assert f"Run {run_id} released" not in worker.stdout
        assert "Traceback" not in worker.stderr
    finally:
        orch.engine.dispose()


def test_sigint_releases_the_runs_the_grace_period_does_not_fit(
    config: OrchestratorConfig, workers, tmp_path
) -> None:
    config = with_gated(config)
    orch = Orchestrator(config)
    gate = tmp_path / "gate"
    gate.mkdir()
    try:
        run_id = orch.launch("gated", {"dir": str(gate), "tasks": 2, "allow": 0, "delay_ms": 0})
        first = workers("first", config, "--concurrency", "1", "--grace", "0")
        wait_status(orch, run_id, ("running",))
        first.proc.send_signal(signal.SIGINT)
        assert first.proc.wait(60) == 0, first.describe()
        released = orch.get_run(run_id)
        assert (released["status"], released["worker"], released["finished_at"]) == ("queued", None, None)
        assert f"Run {run_id} released back to the queue" in first.stdout
        assert executions(gate) == {}

        # The next executor continues it once the gate opens; each step runs once. (One in this
        # process: what is about a process, the signal and the release, is done above.)
        (gate / "open").touch()
        second = Executor(config, engine=orch.engine, registry=orch.registry, poll_seconds=0.1)
        second.start()
        try:
            run = wait_status(orch, run_id)
        finally:
            second.stop(grace=5)
        assert run["status"] == "succeeded", run["error"]
        assert run["worker"] is not None and run["worker"].split(":")[1] != str(first.proc.pid)
        assert executions(gate) == {0: 1, 1: 1}
        assert not second.is_alive
    finally:
        orch.engine.dispose()


@pytest.mark.parametrize("value", ["0", "-1", "1001", "many"])
def test_worker_concurrency_out_of_range_is_one_line(config: OrchestratorConfig, workers, value: str) -> None:
    worker = workers(f"c{value}", config, "--concurrency", value)
    assert worker.proc.wait(60) == 1, worker.describe()
    assert worker.stderr.strip() == "error: --concurrency must be a whole number from 1 to 1000."
    assert "serving" not in worker.stdout
