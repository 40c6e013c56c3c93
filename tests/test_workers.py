"""`python -m orchestrator worker` as real processes: crash recovery, a shared queue, shutdown.

Workers are started with the database in their environment (CHECKPOINT_MODE, SQLITE_PATH or
POSTGRES_URI) and short heartbeats, their stdout and stderr written to files in tmp_path. Every
worker a test starts is killed at teardown if it is still alive.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from sqlalchemy.engine import make_url

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, upgrade_schema
from orchestrator.operations import Orchestrator
from orchestrator.runs import RunFilter
from tests.checkpoint_reader import saved_writes
from tests.conftest import _admin_connect
from tests.helpers import wait_for

REPO_ROOT = Path(__file__).resolve().parents[1]
OUR_ENV = ("CHECKPOINT_MODE", "SQLITE_PATH", "POSTGRES_URI")
CLAIMED = re.compile(r"Claimed run (\w+) ")


def worker_env(config: OrchestratorConfig, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OUR_ENV and not k.startswith("ORCHESTRATOR_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["CHECKPOINT_MODE"] = str(config.checkpoint_mode)
    if config.checkpoint_mode == "sqlite":
        env["SQLITE_PATH"] = str(Path(str(config.sqlite_path)).resolve())
    else:
        env["POSTGRES_URI"] = str(config.postgres_uri)
    env["ORCHESTRATOR_HEARTBEAT_SECONDS"] = "0.5"
    env.update(extra)
    return env


class Worker:
    """One `python -m orchestrator worker` process with its output in files."""

    def __init__(self, directory: Path, name: str, config: OrchestratorConfig, *args: str, **env: str):
        self.name = name
        self.out_path = directory / f"{name}.stdout"
        self.err_path = directory / f"{name}.stderr"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "worker", *args],
                cwd=directory,
                env=worker_env(config, **env),
                stdout=out,
                stderr=err,
            )

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def describe(self) -> str:
        return f"worker {self.name} (exit {self.proc.poll()})\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"

    def wait_serving(self, timeout: float = 30.0) -> None:
        def serving() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited before serving: {self.describe()}")
            return " serving (concurrency " in self.stdout

        wait_for(serving, timeout, interval=0.05, what=f"worker {self.name} to serve")

    def claimed(self) -> list[str]:
        return CLAIMED.findall(self.stdout)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


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


def wait_status(orch: Orchestrator, run_id: str, statuses: tuple[str, ...], timeout: float = 30.0) -> dict:
    def reached() -> dict | None:
        run = orch.get_run(run_id)
        return run if run["status"] in statuses else None

    return wait_for(reached, timeout, what=f"run {run_id} to reach {statuses}")


def finished_work(orch: Orchestrator, run_id: str) -> list[dict]:
    return [t for t in orch.store.get_tasks(run_id) if t["node"] == "work" and t["status"] == "succeeded"]


# -- crash recovery (SIGKILL), once per backend, shared by the tests that check it ------------------

CRASH_INPUT = {"tasks": 30, "delay_ms": 250, "fan_out": 3}
# tests/engine_workflows.py:build_counted: the same shape as simulate (fan-out bounded by
# LangGraph's max_concurrency), but every finished step leaves a file, so re-executions show.
CRASH_WORKFLOWS = '{"counted": "tests.engine_workflows:build_counted"}'


def _crash_config(backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """A database of the module's own for the crash scenario (and how to drop it)."""
    workflows = {"counted": "tests.engine_workflows:build_counted"}
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("crash-sqlite") / "orchestrator.db"
        config = OrchestratorConfig(
            checkpoint_mode="sqlite", sqlite_path=str(path), workflows=workflows, env_file=None
        )
        return config, None
    admin = request.getfixturevalue("postgres_admin")
    name = f"test_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = make_url(admin).set(database=name).render_as_string(hide_password=False)
    config = OrchestratorConfig(
        checkpoint_mode="postgres", postgres_uri=uri, workflows=workflows, env_file=None
    )
    return config, name


def executions(log_dir: Path) -> Counter[int]:
    """How often each `counted` step finished (one file per execution)."""
    return Counter(int(p.name.split("-")[0]) for p in log_dir.iterdir()) if log_dir.exists() else Counter()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def crash(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Queue a simulate run and a counted run, SIGKILL their worker mid-run, recover with a
    second worker (ORCHESTRATOR_STALE_AFTER_SECONDS=2), resume both, let them finish.

    Yields what happened: the run ids, the task rows finished before the kill, the runs when
    they were marked interrupted, the finished runs and their task rows, the counted run's
    executions per step before the kill and at the end, and the two workers."""
    config, pg_name = _crash_config(request.param, tmp_path_factory, request)
    directory = tmp_path_factory.mktemp(f"crash-{request.param}-workers")
    log_dir = directory / "executions"
    orch = Orchestrator(config)
    procs: list[Worker] = []
    try:
        run_id = orch.launch("simulate", CRASH_INPUT)
        counted = orch.launch("counted", {"log_dir": str(log_dir), **CRASH_INPUT})
        first = Worker(
            directory, "first", config, "--concurrency", "2", ORCHESTRATOR_WORKFLOWS=CRASH_WORKFLOWS
        )
        procs.append(first)

        def both_mid_run() -> bool:
            assert first.proc.poll() is None, first.describe()
            return len(finished_work(orch, run_id)) >= 6 and len(finished_work(orch, counted)) >= 6

        wait_for(both_mid_run, 40, interval=0.02, what="6 finished work tasks in each run")
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        killed_at = dt.datetime.now(dt.UTC)
        before = finished_work(orch, run_id)
        counted_before = finished_work(orch, counted)
        executions_before = executions(log_dir)
        # What LangGraph saved before the kill (a step may have finished its work and not be
        # saved yet: that one may run again).
        saved_before = {i for results in saved_writes(config, counted, "results") for i in results}
        at_kill = orch.get_run(run_id)

        second = Worker(
            directory,
            "second",
            config,
            "--concurrency",
            "2",
            ORCHESTRATOR_STALE_AFTER_SECONDS="2",
            ORCHESTRATOR_WORKFLOWS=CRASH_WORKFLOWS,
        )
        procs.append(second)
        interrupted = wait_status(orch, run_id, ("interrupted", "succeeded", "failed"), timeout=30)
        counted_interrupted = wait_status(orch, counted, ("interrupted", "succeeded", "failed"), timeout=30)
        tasks_interrupted = orch.store.get_tasks(run_id)
        resumed = [orch.resume(run_id), orch.resume(counted)]
        ends = ("succeeded", "failed", "cancelled", "interrupted")
        final = wait_status(orch, run_id, ends, timeout=60)
        counted_final = wait_status(orch, counted, ends, timeout=60)
        tasks_final = orch.store.get_tasks(run_id)
        exit_code = second.terminate()
        yield {
            "run_id": run_id,
            "counted": counted,
            "killed_at": killed_at,
            "before": before,
            "counted_before": counted_before,
            "executions_before": executions_before,
            "saved_before": saved_before,
            "at_kill": at_kill,
            "interrupted": interrupted,
            "counted_interrupted": counted_interrupted,
            "tasks_interrupted": tasks_interrupted,
            "resumed": resumed,
            "final": final,
            "counted_final": counted_final,
            "tasks_final": tasks_final,
            "executions_final": executions(log_dir),
            "first": first,
            "second": second,
            "second_exit": exit_code,
        }
    finally:
        for proc in procs:
            proc.kill()
        orch.engine.dispose()
        if pg_name:
            with _admin_connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def test_sigkilled_worker_run_is_recovered_and_resumed(crash: dict[str, Any]) -> None:
    run_id, first, second = crash["run_id"], crash["first"], crash["second"]
    # The first worker had the run and died holding it, mid-run.
    assert crash["at_kill"]["status"] == "running"
    assert crash["at_kill"]["worker"].split(":")[1] == str(first.proc.pid)
    assert 6 <= len(crash["before"]) < CRASH_INPUT["tasks"]
    assert sorted(first.claimed()) == sorted([run_id, crash["counted"]])

    # The second worker saw no heartbeat and marked the runs interrupted, closing open tasks.
    interrupted = crash["interrupted"]
    assert interrupted["status"] == "interrupted", second.describe()
    assert crash["counted_interrupted"]["status"] == "interrupted", second.describe()
    assert "no heartbeat" in interrupted["error"]
    assert interrupted["finished_at"] > crash["killed_at"]
    assert not [t for t in crash["tasks_interrupted"] if t["status"] == "running"]
    assert f"Run {run_id} had no heartbeat" in second.stdout

    # Resumed, the second worker continued them to the end.
    assert crash["resumed"] == ["queued", "queued"]
    final = crash["final"]
    assert final["status"] == "succeeded", final["error"]
    assert final["error"] is None
    assert final["worker"].split(":")[1] == str(second.proc.pid)
    assert sorted(second.claimed()) == sorted([run_id, crash["counted"]])
    assert final["state_snapshot"]["summary"]["count"] == CRASH_INPUT["tasks"]
    assert sorted(r["index"] for r in final["state_snapshot"]["results"]) == list(range(CRASH_INPUT["tasks"]))
    nodes = Counter(t["node"] for t in crash["tasks_final"])
    assert nodes == {"plan": 1, "work": CRASH_INPUT["tasks"], "summarize": 1}
    # The tasks finished before the kill are the same tasks (LangGraph's task ids), not new ones.
    assert {t["task_id"] for t in crash["before"]} <= {t["task_id"] for t in crash["tasks_final"]}
    counted_final = crash["counted_final"]
    assert counted_final["status"] == "succeeded", counted_final["error"]
    assert counted_final["state_snapshot"]["summary"]["indices"] == list(range(CRASH_INPUT["tasks"]))
    assert set(crash["executions_final"]) == set(range(CRASH_INPUT["tasks"]))
    assert crash["second_exit"] == 0, second.describe()


def test_sigkilled_worker_steps_finished_before_the_crash_do_not_run_again(crash: dict[str, Any]) -> None:
    before, saved = crash["executions_before"], crash["saved_before"]
    assert len(saved) >= 3 and set(before.values()) == {1}
    assert saved <= set(before)
    # A step whose result LangGraph had saved before the kill never runs again.
    assert {i: crash["executions_final"][i] for i in saved} == dict.fromkeys(saved, 1)


def test_sigkilled_worker_tasks_finished_before_the_crash_keep_their_rows(crash: dict[str, Any]) -> None:
    assert crash["final"]["status"] == "succeeded"
    after = {t["task_id"]: t for t in crash["tasks_final"]}
    for task in crash["before"]:
        again = after[task["task_id"]]
        assert (again["status"], again["started_at"], again["finished_at"]) == (
            "succeeded",
            task["started_at"],
            task["finished_at"],
        )
    total = CRASH_INPUT["tasks"] + 2
    final = crash["final"]
    assert (final["tasks_total"], final["tasks_completed"], final["tasks_failed"]) == (total, total, 0)


# -- two workers share one PostgreSQL queue -------------------------------------------------------


SHARED_RUNS = 50
SHARED_CONCURRENCY = 4


@pytest.fixture(scope="module")
def shared_queue(postgres_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Queue 50 runs on a PostgreSQL database, let two worker processes empty the queue, stop them.

    Yields the run ids, the two workers, their exit codes, the runs' rows and task rows, and the
    most runs one worker held at once (sampled while they ran)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
    config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    directory = tmp_path_factory.mktemp("shared-queue")
    orch = Orchestrator(config)
    procs: list[Worker] = []
    try:
        # LangGraph's tables first: two workers setting them up at once race (see below).
        asyncio.run(startup(config, orch.engine))
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
        exits = [proc.terminate() for proc in procs]
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
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
            time.sleep(1.0)  # the second worker's set-up lock polls meanwhile
            holder.rollback()
    a.wait_serving()
    b.wait_serving()
    assert a.terminate() == 0, a.describe()
    assert b.terminate() == 0, b.describe()


# -- SIGTERM: finish what fits in the grace period, release the rest, exit 0 ------------------------


def test_sigterm_finishes_or_releases_runs_in_flight(config: OrchestratorConfig, workers) -> None:
    orch = Orchestrator(config)
    try:
        short = orch.launch("simulate", {"tasks": 4, "delay_ms": 400, "fan_out": 4})
        long = orch.launch("simulate", {"tasks": 200, "delay_ms": 200, "fan_out": 1})
        worker = workers("w", config, "--concurrency", "2", "--grace", "2")
        wait_status(orch, short, ("running",))
        wait_status(orch, long, ("running",))
        signalled = dt.datetime.now(dt.UTC)
        assert worker.terminate() == 0, worker.describe()

        # The short run finished during the grace period ...
        done = orch.get_run(short)
        assert done["status"] == "succeeded", done["error"]
        assert done["finished_at"] > signalled
        assert done["tasks_completed"] == 6
        # ... the long one went back to the queue for the next executor, its task rows closed.
        released = orch.get_run(long)
        assert released["status"] == "queued"
        assert released["worker"] is None and released["finished_at"] is None
        assert not [t for t in orch.store.get_tasks(long) if t["status"] == "running"]
        assert f"Run {long} released back to the queue" in worker.stdout
        assert set(worker.claimed()) == {short, long}
        assert "Traceback" not in worker.stderr
    finally:
        orch.engine.dispose()
