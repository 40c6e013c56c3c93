"""Two executors must never run the same run.

- A worker paused (SIGSTOP) long enough for another to recover its run, then continued
  (SIGCONT), writes nothing more for that run (no step saved, no task row added or changed) and
  stops it by itself; the run, resumed, finishes with each step run once.
- A worker whose clock is a minute behind the database's (another machine, badly synchronised)
  is not taken for dead: staleness is judged by the database's clock. Clocks are per machine,
  so this runs on PostgreSQL, the backend that workers on several machines share; the worker's
  clock is moved with libfaketime (Debian's `faketime` package), for Python and C alike.
"""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

import pytest

from orchestrator.db import utcnow
from orchestrator.operations import Orchestrator
from tests.checkpoint_reader import saved_task_ids, saved_writes
from tests.conftest import missing_tool
from tests.engine_workflows import executions
from tests.helpers import wait_for
from tests.processes import wait_status

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
TASKS = 10


def test_a_paused_worker_that_lost_its_run_writes_nothing_when_it_continues(
    gated_orch: Orchestrator, workers, tmp_path: Path
) -> None:
    orch, config = gated_orch, gated_orch.config
    gate = tmp_path / "gate"
    run_id = orch.launch(
        "gated", {"dir": str(gate), "tasks": TASKS, "allow": 4, "delay_ms": 300, "fan_out": 4}
    )
    first = workers("first", config, "--concurrency", "1", ORCHESTRATOR_HEARTBEAT_SECONDS="0.2")

    def four_saved_and_the_rest_waiting() -> bool:
        assert first.proc.poll() is None, first.describe()
        saved = [i for results in saved_writes(config, run_id, "results") for i in results]
        started = sum(t["node"] == "work" for t in orch.store.get_tasks(run_id))
        return len(saved) == 4 and started == TASKS

    wait_for(four_saved_and_the_rest_waiting, 60, interval=0.05, what="4 steps saved, 6 at the gate")
    first.proc.send_signal(signal.SIGSTOP)
    try:
        second = workers(
            "second", config, "--concurrency", "1",
            ORCHESTRATOR_HEARTBEAT_SECONDS="0.2", ORCHESTRATOR_STALE_AFTER_SECONDS="1",
        )  # fmt: skip
        # Started with the second one (its start-up meanwhile): nothing is queued for it to take
        # until the run is resumed below, and by its default judgement no run is dead yet.
        third = workers("third", config, "--concurrency", "1", ORCHESTRATOR_HEARTBEAT_SECONDS="0.2")
        wait_status(orch, run_id, ("interrupted",), 60)
        # What there is once the second worker marked the run (and its open tasks) interrupted.
        rows_at_pause = orch.store.get_tasks(run_id)
        saved_at_pause = saved_task_ids(config, run_id)
        results_at_pause = saved_writes(config, run_id, "results")
    finally:
        # It continues with six steps still at their gate: it must notice it lost the run before
        # anything of it moves. (With the gate open, a step could finish its work in the moment
        # before the heartbeat tells; fencing stops writes, not a node's own side effects.)
        first.proc.send_signal(signal.SIGCONT)
    try:
        wait_for(lambda: "no longer held" in first.stdout, 60, what="the paused worker to notice")
    except AssertionError:
        raise AssertionError(
            f"the paused worker did not notice it lost the run: {first.describe()}"
        ) from None
    # Nothing was saved or recorded after the first worker continued.
    assert orch.store.get_tasks(run_id) == rows_at_pause
    assert saved_task_ids(config, run_id) == saved_at_pause
    assert saved_writes(config, run_id, "results") == results_at_pause
    # Both stopped (at once) before the resume: the first could take the resumed run; the second
    # judges a worker dead after 1 s, so on a loaded machine it could take its own run for dead
    # when a heartbeat is late. The resumed run goes to a worker with the default judgement.
    for worker in (first, second):
        worker.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(30) == 0, first.describe()
    # It said so in one line, not with asyncio's "Task exception was never retrieved" traceback.
    assert "Traceback" not in first.stdout + first.stderr, first.describe()
    assert second.proc.wait(30) == 0, second.describe()
    assert third.claimed() == [], third.describe()  # it took nothing before the resume
    gate.mkdir(exist_ok=True)
    (gate / "open").write_text("go")
    assert orch.resume(run_id) == "queued"
    done = wait_status(orch, run_id, ("succeeded", "failed"), 120)
    assert done["status"] == "succeeded", done["error"]
    assert done["attempt"] == 2
    assert third.terminate() == 0, third.describe()

    final_rows = orch.store.get_tasks(run_id)
    final_results = saved_writes(config, run_id, "results")
    run = orch.get_run(run_id)
    assert (run["status"], run["attempt"]) == ("succeeded", 2)
    assert run["state_snapshot"]["summary"]["indices"] == list(range(TASKS))
    assert sorted(i for r in final_results for i in r) == list(range(TASKS))  # each step saved once
    # (resume reconciles attempt 1's rows with what LangGraph saved: none is added)
    assert {(t["task_id"], t["attempt"]) for t in final_rows if t["attempt"] == 1} <= {
        (t["task_id"], t["attempt"]) for t in rows_at_pause
    }
    assert sum(t["node"] == "summarize" for t in final_rows) == 1
    # Each step's work ran once: the four saved before the pause were not run again, and the
    # six the first worker held at its gate were stopped before they worked.
    assert executions(gate) == dict.fromkeys(range(TASKS), 1)


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_worker_with_a_slow_clock_is_not_taken_for_dead(
    gated_orch: Orchestrator, workers, tmp_path: Path, backend: str
) -> None:
    if not LIBFAKETIME.exists():
        missing_tool("libfaketime is not installed (apt-get install faketime)")
    orch, config = gated_orch, gated_orch.config
    gate = tmp_path / "gate"
    # Its clock is 60 s behind; it heartbeats every 0.2 s.
    slow = workers(
        "slow",
        config,
        "--concurrency",
        "1",
        ORCHESTRATOR_HEARTBEAT_SECONDS="0.2",
        LD_PRELOAD=str(LIBFAKETIME),
        FAKETIME="-60s",
        FAKETIME_DONT_RESET="1",
    )
    # The judge: a worker with the right clock that marks runs stale after 1 s without heartbeat.
    # It serves no `gated` run (it could take ours before the slow worker), so it starts with it.
    judge = workers(
        "judge",
        config,
        "--concurrency",
        "1",
        ORCHESTRATOR_HEARTBEAT_SECONDS="0.2",
        ORCHESTRATOR_STALE_AFTER_SECONDS="1",
        ORCHESTRATOR_WORKFLOWS="{}",
    )
    slow.wait_serving()
    run_id = orch.launch("gated", {"dir": str(gate), "tasks": 4, "allow": 0, "delay_ms": 10})
    wait_status(orch, run_id, ("running",), 60)
    # The claim is committed before the worker logs it.
    wait_for(lambda: slow.claimed() == [run_id], 30, what=f"the slow worker to log its claim of {run_id}")
    judge.wait_serving()
    # Proof that the judge checked for stale runs while ours waited at its gate: a ghost run
    # (running, silent for an hour) gets marked interrupted by the judge, twice over.
    for n in range(2):
        ghost = f"ghost-{n}"
        an_hour_ago = utcnow() - dt.timedelta(hours=1)
        orch.store.insert_many(
            [
                {
                    "run_id": ghost,
                    "workflow": "gated",
                    "status": "running",
                    "created_at": an_hour_ago,
                    "started_at": an_hour_ago,
                    "heartbeat_at": an_hour_ago,
                    "worker": "ghost",
                    "attempt": 1,
                }
            ]
        )
        wait_status(orch, ghost, ("interrupted",), 60)
        assert orch.get_run(run_id)["status"] == "running"
    gate.mkdir(exist_ok=True)
    (gate / "open").write_text("go")
    final = wait_status(orch, run_id, ("succeeded", "failed", "interrupted"), 60)
    assert final["status"] == "succeeded", final["error"]
    assert (final["attempt"], final["worker"]) == (1, orch.get_run(run_id)["worker"])
    assert f"Run {run_id} had no heartbeat" not in judge.stdout
    # The slow worker really had a slow clock: it wrote its tasks' times as it saw them.
    tasks = orch.store.get_tasks(run_id)
    assert tasks and all(t["started_at"] < utcnow() - dt.timedelta(seconds=50) for t in tasks)
    # The run's own times are the database's clock, so its wall and work time are right anyway.
    assert final["started_at"] > utcnow() - dt.timedelta(seconds=50)
    assert 0 < final["work_seconds"] <= final["wall_seconds"] < 50
