"""A worker SIGKILLed with runs stopped at ten different points of their lives; a second worker
recovers them; a third, that judges a worker dead only as late as by default, resumes them to
the end (see the test for why). After it, on both backends:

- no step whose result LangGraph had saved before the kill runs again;
- every task row is succeeded, and the rows are exactly the tasks LangGraph saved (read with
  LangGraph's own saver, not the orchestrator's code);
- tasks_total, tasks_completed and tasks_failed equal those rows.

The points are set up deterministically with the `gated` test workflow (steps wait at a gate
the test opens after the kill), so each run is at its point when the kill lands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.operations import Orchestrator
from tests.checkpoint_reader import saved_task_ids, saved_writes
from tests.engine_workflows import executions
from tests.helpers import wait_for
from tests.processes import wait_status

TASKS = 12
# name -> the gated input that stops the run there (plus the built-ins below).
POINTS: dict[str, dict[str, Any]] = {
    "in plan": {"block": "plan", "allow": 0},
    "plan saved, no step done": {"allow": 0},
    "1 step saved": {"allow": 1},
    "3 steps saved": {"allow": 3},
    "5 steps saved": {"allow": 5},
    "8 steps saved": {"allow": 8},
    "all but one step saved": {"allow": TASKS - 1},
    "in summarize": {"block": "summarize", "allow": TASKS},
}
APPROVAL = {"goal": "Collect logs; parse them; then report", "require_approval": True}
SIMULATE = {"tasks": 40, "delay_ms": 100, "fan_out": 2, "seed": 3}


def reached(orch: Orchestrator, config: Any, run_id: str, spec: dict[str, Any]) -> bool:
    """Whether a gated run stands at its point (nothing can move it on until the gate opens)."""
    tasks = orch.store.get_tasks(run_id)
    if spec.get("block") == "plan":
        return any(t["node"] == "plan" and t["status"] == "running" for t in tasks)
    if spec.get("block") == "summarize":
        return any(t["node"] == "summarize" and t["status"] == "running" for t in tasks)
    saved = [i for results in saved_writes(config, run_id, "results") for i in results]
    started = sum(t["node"] == "work" for t in tasks)
    return len(saved) == spec["allow"] and started == TASKS


def test_a_worker_killed_at_ten_points_leaves_exact_counts_and_no_step_runs_twice(
    gated_orch: Orchestrator, workers, tmp_path: Path
) -> None:
    orch, config = gated_orch, gated_orch.config
    runs: dict[str, tuple[str, Path]] = {}
    for name, spec in POINTS.items():
        folder = tmp_path / name.replace(" ", "_").replace(",", "")
        run_id = orch.launch(
            "gated", {"dir": str(folder), "tasks": TASKS, "delay_ms": 30, "fan_out": 4, **spec}
        )
        runs[name] = (run_id, folder)
    waiting = orch.launch("plan_execute", APPROVAL)
    simulate = orch.launch("simulate", SIMULATE)

    first = workers("first", config, "--concurrency", "12", ORCHESTRATOR_HEARTBEAT_SECONDS="0.3")

    def all_at_their_points() -> bool:
        assert first.proc.poll() is None, first.describe()
        at_points = all(reached(orch, config, rid, POINTS[name]) for name, (rid, _) in runs.items())
        simulating = orch.get_run(simulate)["tasks_completed"] >= 5
        return at_points and simulating and orch.get_run(waiting)["status"] == "awaiting_input"

    wait_for(all_at_their_points, 120, interval=0.1, what="every run at its point")
    first.kill()
    killed = {rid: orch.get_run(rid) for rid, _ in runs.values()}
    assert {run["status"] for run in killed.values()} == {"running"}
    saved_before = {rid: saved_task_ids(config, rid) for rid, _ in runs.values()}
    saved_before[simulate] = saved_task_ids(config, simulate)
    rows_before = {rid: {t["task_id"]: t for t in orch.store.get_tasks(rid)} for rid in saved_before}

    second = workers(
        "second",
        config,
        "--concurrency",
        "12",
        ORCHESTRATOR_HEARTBEAT_SECONDS="0.3",
        ORCHESTRATOR_STALE_AFTER_SECONDS="1.5",
    )
    # Started with the second one (its start-up meanwhile): nothing is queued for it to take
    # until the runs are resumed below, and by its default judgement no run is dead yet.
    third = workers("third", config, "--concurrency", "12", ORCHESTRATOR_HEARTBEAT_SECONDS="0.3")
    for rid in [*saved_before]:
        assert wait_status(orch, rid, ("interrupted", "succeeded"), 60)["status"] in (
            "interrupted",
            "succeeded",
        )
    assert "had no heartbeat" in second.stdout
    # The second worker found the first one dead; a worker that judges a run dead after 1.5 s
    # would, on a loaded machine, also take its own runs for dead when a heartbeat is late (and
    # leave them interrupted). The resumed runs go to a worker with the default judgement.
    assert second.terminate() == 0, second.describe()
    assert third.claimed() == [], third.describe()  # it took nothing before the resumes
    for _, folder in runs.values():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "open").write_text("go")
    for rid in saved_before:
        if orch.get_run(rid)["status"] == "interrupted":
            assert orch.resume(rid) == "queued"
    assert orch.get_run(waiting)["status"] == "awaiting_input"  # untouched by the kill
    assert orch.approve(waiting, None) == "queued"

    for rid in [*saved_before, waiting]:
        final = wait_status(orch, rid, ("succeeded", "failed", "cancelled"), 120)
        assert final["status"] == "succeeded", (rid, final["error"], third.describe())

    for name, (rid, folder) in runs.items():
        assert orch.get_run(rid)["state_snapshot"]["summary"]["indices"] == list(range(TASKS)), name
        assert set(executions(folder)) == set(range(TASKS)), name
    for rid in [*saved_before, waiting]:
        try:
            assert_counts_are_the_truth(orch, config, rid)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{second.describe()}\n{third.describe()}") from None
    # A step whose result was saved before the kill ran once; only steps cut off ran again.
    for name, (rid, folder) in runs.items():
        saved_indices = {i for results in saved_writes(config, rid, "results") for i in results} & set(
            range(POINTS[name].get("allow") or 0)
        )
        ran = executions(folder)
        assert {i: ran[i] for i in saved_indices} == dict.fromkeys(saved_indices, 1), name
        # The rows of tasks saved before the kill are the same rows (first attempt, same times).
        for task_id in saved_before[rid]:
            if task_id in rows_before[rid] and rows_before[rid][task_id]["status"] == "succeeded":
                after = {t["task_id"]: t for t in orch.store.get_tasks(rid)}[task_id]
                assert (after["attempt"], after["started_at"]) == (
                    1,
                    rows_before[rid][task_id]["started_at"],
                ), name


def assert_counts_are_the_truth(orch: Orchestrator, config: Any, run_id: str) -> None:
    run = orch.get_run(run_id)
    tasks = orch.store.get_tasks(run_id)
    not_succeeded = [
        (t["node"], t["status"], t["attempt"], t["task_id"]) for t in tasks if t["status"] != "succeeded"
    ]
    saved = saved_task_ids(config, run_id)
    assert not not_succeeded, (
        f"{run['workflow']} {run['input']}: {not_succeeded}; saved: {[t[3] in saved for t in not_succeeded]}; "
        f"rows: {[(t['task_id'][:8], t['status'], t['attempt']) for t in tasks]}; saved: {sorted(x[:8] for x in saved)}"
    )
    assert {t["task_id"] for t in tasks} == saved_task_ids(config, run_id)
    assert len({t["task_id"] for t in tasks}) == len(tasks)
    assert (run["tasks_total"], run["tasks_completed"], run["tasks_failed"]) == (len(tasks), len(tasks), 0)


@pytest.mark.parametrize("blocked", ["plan", "work"])
def test_task_rows_appear_while_tasks_run(
    gated_orch: Orchestrator, workers, tmp_path: Path, blocked: str
) -> None:
    """A task that runs for a long time shows on the page at once (the events are flushed on a
    timer, not only when the next event comes)."""
    spec = {"block": "plan", "allow": 0} if blocked == "plan" else {"allow": 2}
    run_id = gated_orch.launch("gated", {"dir": str(tmp_path / "g"), "tasks": 4, **spec})
    worker = workers("w", gated_orch.config, "--concurrency", "1")
    wanted = 1 if blocked == "plan" else 4

    def running_rows() -> bool:
        assert worker.proc.poll() is None, worker.describe()
        rows = gated_orch.store.get_tasks(run_id)
        return (
            sum(t["status"] == "running" for t in rows) >= (1 if blocked == "plan" else 2)
            and len(rows) >= wanted
        )

    wait_for(running_rows, 60, what="the running tasks' rows")
    (tmp_path / "g").mkdir(exist_ok=True)
    (tmp_path / "g" / "open").write_text("go")
    assert wait_status(gated_orch, run_id)["status"] == "succeeded"
