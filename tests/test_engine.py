"""The run engine end to end: Orchestrator operations and an embedded Executor, on both backends.

Each test gets an empty database (the `config` fixture), an Orchestrator on it, and executors
started in a thread of their own (`Executor.start`), stopped again at teardown.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from orchestrator.checkpointer import open_sync_saver
from orchestrator.claims import ClaimStore
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import (
    AlreadyAnswered,
    InputError,
    InvalidOperation,
    OrchestratorError,
    ReadOnlyError,
)
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from tests.engine_workflows import executions
from tests.helpers import wait_for, with_workflows
from tests.processes import wait_status

TEST_WORKFLOWS = {
    "flaky": "tests.engine_workflows:build_flaky",
    "gated": "tests.engine_workflows:build_gated",
}


def fast_config(config: OrchestratorConfig, **overrides: Any) -> OrchestratorConfig:
    """The test's database with short heartbeats and the test workflows registered."""
    settings: dict[str, Any] = {"heartbeat_seconds": 0.2, "stale_after_seconds": 30, "concurrency": 4}
    return with_workflows(config, TEST_WORKFLOWS, **(settings | overrides))


@pytest.fixture
def orch(config: OrchestratorConfig):
    orch = Orchestrator(fast_config(config))
    yield orch
    orch.engine.dispose()


@pytest.fixture
def executors(orch: Orchestrator):
    """A factory of started embedded executors; all are stopped at teardown."""
    made: list[Executor] = []

    def make(concurrency: int = 4) -> Executor:
        executor = Executor(orch.config, engine=orch.engine, concurrency=concurrency, poll_seconds=0.1)
        made.append(executor)
        executor.start()
        assert executor.is_alive, "the embedded executor did not start"
        return executor

    yield make
    for executor in made:
        executor.stop(grace=1)


def flaky_input(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    # `log_dir` is `<tmp_path>/executions`, where `executions(tmp_path)` counts them.
    return {
        "marker": str(tmp_path / "flaky.marker"),
        "log_dir": str(tmp_path / "executions"),
        "tasks": 5,
        "fail_index": 2,
        **extra,
    }


def gated_input(tmp_path: Path, tasks: int, allow: int) -> dict[str, Any]:
    """`gated`: steps 0..allow-1 finish, the rest wait until `open_gate(tmp_path)`."""
    return {"dir": str(tmp_path), "tasks": tasks, "allow": allow, "delay_ms": 0, "fan_out": 4}


def open_gate(tmp_path: Path) -> None:
    (tmp_path / "open").write_text("go")


def checkpoints(config: OrchestratorConfig, run_id: str) -> tuple[list, list]:
    """The run's checkpoints through LangGraph's sync saver: by thread, and by metadata."""
    with open_sync_saver(config) as saver:
        by_thread = list(saver.list({"configurable": {"thread_id": run_id}}))
        by_metadata = list(saver.list(None, filter={"run_id": run_id}))
    return by_thread, by_metadata


# -- launch -----------------------------------------------------------------------------------


def test_launch_queues_the_validated_input_at_once(orch: Orchestrator) -> None:
    run_id = orch.launch("simulate", {"tasks": 3}, [" nightly ", "load", "nightly", ""])
    run = orch.get_run(run_id)
    assert run["status"] == "queued"
    assert run["workflow"] == "simulate"
    assert run["input"] == {"tasks": 3, "fail_rate": 0.0, "delay_ms": 100, "seed": 0, "fan_out": 4}
    assert run["tags"] == ["nightly", "load"]
    assert run["tasks_total"] == run["tasks_completed"] == run["tasks_failed"] == 0
    assert run["started_at"] is None and run["finished_at"] is None and run["worker"] is None
    assert orch.store.count_runs() == 1

    copies = orch.launch_copies("simulate", {"tasks": 1}, ["x"], copies=3)
    assert len(set(copies)) == 3
    assert {orch.get_run(r)["status"] for r in copies} == {"queued"}


def test_launch_rejects_bad_input_and_unknown_workflows(orch: Orchestrator) -> None:
    with pytest.raises(InputError) as info:
        orch.launch("simulate", {"tasks": 0, "colour": "red"})
    assert set(info.value.field_errors) == {"tasks", "colour"}
    with pytest.raises(InputError, match="tasks must be a whole number"):
        orch.launch("simulate", {"tasks": "many"})
    with pytest.raises(OrchestratorError, match="Unknown workflow 'nope'"):
        orch.launch("nope", {})
    with pytest.raises(InputError, match="number of copies must be between 1 and 100"):
        orch.launch_copies("simulate", {"tasks": 1}, copies=0)
    assert orch.store.count_runs() == 0


# -- executing --------------------------------------------------------------------------------


def test_simulate_run_succeeds_with_tasks_snapshot_and_checkpoints(orch: Orchestrator, executors) -> None:
    run_id = orch.launch("simulate", {"tasks": 20, "delay_ms": 20, "fail_rate": 0})
    executors()
    run = wait_status(orch, run_id)
    assert run["status"] == "succeeded", run["error"]
    assert (run["tasks_total"], run["tasks_completed"], run["tasks_failed"]) == (22, 22, 0)
    assert run["error"] is None
    assert run["started_at"] <= run["finished_at"]
    assert run["worker"] and run["heartbeat_at"] is not None

    tasks = orch.store.get_tasks(run_id)
    assert Counter(t["node"] for t in tasks) == {"plan": 1, "work": 20, "summarize": 1}
    assert {t["status"] for t in tasks} == {"succeeded"}
    assert all(t["finished_at"] >= t["started_at"] for t in tasks)

    snapshot = run["state_snapshot"]
    json.dumps(snapshot)  # plain JSON
    assert snapshot["summary"]["count"] == 20
    assert sorted(r["index"] for r in snapshot["results"]) == list(range(20))

    by_thread, by_metadata = checkpoints(orch.config, run_id)
    assert by_thread, "LangGraph's saver has no checkpoints for the run's thread"
    assert {c.config["configurable"]["thread_id"] for c in by_thread} == {run_id}
    assert by_thread[0].checkpoint["channel_values"]["summary"] == snapshot["summary"]
    assert {c.checkpoint["id"] for c in by_metadata} == {c.checkpoint["id"] for c in by_thread}
    assert all(c.metadata["workflow"] == "simulate" for c in by_metadata)


def test_task_counts_are_visible_while_the_run_goes(orch: Orchestrator, executors, tmp_path: Path) -> None:
    # Steps 0 and 1 finish; steps 2..9 wait at the gate, so the run is held mid-way.
    run_id = orch.launch("gated", gated_input(tmp_path, tasks=10, allow=2))
    executors()
    run = wait_for(
        lambda: (r := orch.get_run(run_id))["tasks_completed"] == 3 and r,
        what="plan and the two allowed steps to be counted while the run goes",
    )
    assert run["status"] == "running"
    assert run["tasks_total"] == 11 and run["tasks_failed"] == 0  # plan + 10 steps started
    open_gate(tmp_path)
    run = wait_status(orch, run_id)
    assert run["status"] == "succeeded", run["error"]
    assert (run["tasks_total"], run["tasks_completed"], run["tasks_failed"]) == (12, 12, 0)


def test_failing_run_records_the_error_and_traceback(orch: Orchestrator, executors) -> None:
    run_id = orch.launch("simulate", {"tasks": 4, "delay_ms": 10, "fail_rate": 1})
    executors()
    run = wait_status(orch, run_id)
    assert run["status"] == "failed"
    first = run["error"].splitlines()[0]
    assert first.startswith("RuntimeError: simulated failure in task ")
    assert "Traceback (most recent call last)" in run["error"]
    assert run["tasks_failed"] >= 1
    assert run["finished_at"] is not None
    failed = [t for t in orch.store.get_tasks(run_id) if t["status"] == "failed"]
    assert len(failed) == run["tasks_failed"]
    assert all(t["error"].startswith("RuntimeError: simulated failure") for t in failed)
    assert not [t for t in orch.store.get_tasks(run_id) if t["status"] == "running"]


def test_a_freed_slot_takes_the_next_queued_run_without_waiting_for_the_poll(orch: Orchestrator) -> None:
    """An executor whose poll would come only in an hour: the run queued behind the one it holds
    is claimed as soon as that one ends (its slot is free), not at the next poll."""
    first, second = orch.launch_copies("simulate", {"tasks": 2, "delay_ms": 10}, ["slot"], copies=2)
    executor = Executor(orch.config, engine=orch.engine, concurrency=1, poll_seconds=3600)
    executor.start()
    try:
        for run_id in (first, second):
            assert wait_status(orch, run_id, timeout=30)["status"] == "succeeded"
    finally:
        executor.stop(grace=1)
    assert not executor.is_alive  # the hour's poll does not hold the stop up either


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_a_queued_run_at_once_and_it_never_starts(orch: Orchestrator, executors) -> None:
    run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 0})
    assert orch.cancel(run_id) == "cancelled"
    run = orch.get_run(run_id)
    assert run["status"] == "cancelled" and run["error"] == "Cancelled on request."
    # A second cancel changes nothing and says why (the status table: a cancelled run allows none).
    with pytest.raises(
        InvalidOperation, match=r"was cancelled; only queued, running, waiting or interrupted runs"
    ):
        orch.cancel(run_id)

    # An executor starting afterwards runs the next run, but never the cancelled one.
    later = orch.launch("simulate", {"tasks": 1, "delay_ms": 0})
    executors()
    assert wait_status(orch, later)["status"] == "succeeded"
    run = orch.get_run(run_id)
    assert run["status"] == "cancelled"
    assert run["tasks_total"] == 0 and run["started_at"] is None and run["worker"] is None
    assert orch.store.get_tasks(run_id) == []


def test_cancel_a_running_run(orch: Orchestrator, executors, tmp_path: Path) -> None:
    # Every step waits at a gate that is never opened: only cancel can end the run.
    run_id = orch.launch("gated", gated_input(tmp_path, tasks=4, allow=0))
    executors()
    wait_for(lambda: orch.get_run(run_id)["tasks_total"] == 5, what="the run's four steps to start")
    assert orch.cancel(run_id) in ("running", "cancelled")
    with contextlib.suppress(InvalidOperation):  # twice: still asked to stop, or cancelled already
        assert orch.cancel(run_id) == "running"
    run = wait_status(orch, run_id)
    assert run["status"] == "cancelled"
    assert run["error"] == "Cancelled on request."
    assert run["tasks_completed"] == 1  # plan only
    with pytest.raises(InvalidOperation, match="was cancelled"):
        orch.cancel(run_id)
    assert not [t for t in orch.store.get_tasks(run_id) if t["status"] == "running"]
    assert executions(tmp_path) == {}


def test_cancel_a_finished_run_raises(orch: Orchestrator, executors) -> None:
    run_id = orch.launch("simulate", {"tasks": 1, "delay_ms": 0})
    executors()
    assert wait_status(orch, run_id)["status"] == "succeeded"
    with pytest.raises(InvalidOperation, match="succeeded"):
        orch.cancel(run_id)
    assert orch.get_run(run_id)["status"] == "succeeded"


# -- resume -----------------------------------------------------------------------------------


def _fail_then_resume(orch: Orchestrator, executors, tmp_path: Path) -> tuple[str, list[dict], dict]:
    """Run `flaky` until it fails, resume it (twice, with no executor running), let it finish.

    Returns the run id, its task rows at the failure, and the finished run."""
    run_id = orch.launch("flaky", flaky_input(tmp_path))
    first = executors()
    run = wait_status(orch, run_id)
    assert run["status"] == "failed"
    assert run["error"].splitlines()[0] == "RuntimeError: flaky failure in step 2"
    before = orch.store.get_tasks(run_id)
    assert executions(tmp_path) == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1}
    first.stop()

    assert orch.resume(run_id) == "queued"
    with pytest.raises(InvalidOperation, match=r"is queued; only failed or interrupted runs can be resumed"):
        orch.resume(run_id)  # twice: nothing changes, and it says why
    run = orch.get_run(run_id)
    assert run["status"] == "queued" and run["finished_at"] is None and run["worker"] is None
    executors()
    return run_id, before, wait_status(orch, run_id)


def test_resume_a_failed_run_continues_without_running_finished_steps_again(
    orch: Orchestrator, executors, tmp_path: Path
) -> None:
    run_id, before, run = _fail_then_resume(orch, executors, tmp_path)
    assert run["status"] == "succeeded", run["error"]
    assert run["error"] is None
    assert run["state_snapshot"]["summary"] == {"count": 5, "indices": [0, 1, 2, 3, 4]}
    # Only the step that failed ran again; the four that had succeeded kept their results.
    assert executions(tmp_path) == {0: 1, 1: 1, 2: 2, 3: 1, 4: 1}
    after = orch.store.get_tasks(run_id)
    # Every attempt is kept: step 2's failure in the first attempt stays beside its retry.
    assert Counter((t["node"], t["status"], t["attempt"]) for t in after) == {
        ("plan", "succeeded", 1): 1,
        ("work", "succeeded", 1): 4,
        ("work", "failed", 1): 1,
        ("work", "succeeded", 2): 1,
        ("summarize", "succeeded", 2): 1,
    }
    assert {t["task_id"] for t in before} <= {t["task_id"] for t in after}
    with pytest.raises(InvalidOperation, match="succeeded"):
        orch.resume(run_id)


def test_resume_keeps_the_rows_of_tasks_that_had_finished(
    orch: Orchestrator, executors, tmp_path: Path
) -> None:
    run_id, before, run = _fail_then_resume(orch, executors, tmp_path)
    assert run["status"] == "succeeded"
    after = {t["task_id"]: t for t in orch.store.get_tasks(run_id)}
    for task in before:
        if task["status"] == "succeeded":
            again = after[task["task_id"]]
            assert (again["status"], again["started_at"], again["finished_at"]) == (
                "succeeded",
                task["started_at"],
                task["finished_at"],
            ), task["node"]
    assert (run["tasks_total"], run["tasks_completed"], run["tasks_failed"]) == (8, 7, 1)


# -- approve and reject -----------------------------------------------------------------------


APPROVAL_INPUT = {"goal": "Write the intro; write the body; write the end", "require_approval": True}


def test_approve_runs_exactly_the_approved_plan(orch: Orchestrator, executors) -> None:
    run_id = orch.launch("plan_execute", APPROVAL_INPUT)
    first = executors()
    run = wait_status(orch, run_id)
    assert run["status"] == "awaiting_input"
    pending = orch.pending_interrupts(run_id)
    assert len(pending) == 1
    assert pending[0]["value"]["plan"] == ["Write the intro", "Write the body", "Write the end"]
    assert [t["node"] for t in orch.store.get_tasks(run_id) if t["node"] == "worker"] == []
    first.stop()

    assert orch.approve(run_id, ["alpha task", "beta task"], answered_by="ana") == "queued"
    with pytest.raises(AlreadyAnswered, match=r"already answered by ana at .* UTC \(approved with"):
        orch.approve(run_id, ["alpha task", "beta task"])  # the first answer wins, even the same again
    executors()
    run = wait_status(orch, run_id)
    assert run["status"] == "succeeded", run["error"]
    snapshot = run["state_snapshot"]
    assert snapshot["plan"] == ["alpha task", "beta task"]
    assert sorted(r["task"] for r in snapshot["results"]) == ["alpha task", "beta task"]
    assert snapshot["summary"]["tasks"] == 2
    assert snapshot["summary"]["lines"] == [
        "Step 1 done: alpha task (covered alpha and task).",
        "Step 2 done: beta task (covered beta and task).",
    ]
    assert "__interrupt__" not in snapshot
    workers = [t for t in orch.store.get_tasks(run_id) if t["node"] == "worker"]
    assert len(workers) == 2 and {t["status"] for t in workers} == {"succeeded"}
    assert orch.get_run(run_id)["resume_value"] is None
    assert orch.pending_interrupts(run_id) == []
    with pytest.raises(InvalidOperation, match="succeeded"):
        orch.approve(run_id, ["again"])


def test_approve_twice_after_an_executor_took_the_run(orch: Orchestrator, executors) -> None:
    run_id = orch.launch("plan_execute", APPROVAL_INPUT)
    first = executors()
    assert wait_status(orch, run_id)["status"] == "awaiting_input"
    first.stop()
    assert orch.approve(run_id, ["alpha task"]) == "queued"
    # An executor takes the run (the answer stays on the row until the run's attempt ends).
    assert ClaimStore(orch.engine).claim_queued("test-worker", 1, run_id=run_id)
    with pytest.raises(AlreadyAnswered, match="your answer was not sent"):
        orch.approve(run_id, ["alpha task"])
    (answer,) = orch.store.get_answers(run_id)  # the first answer, as the executor will send it
    assert orch.get_run(run_id)["resume_value"] == {"resume": {answer["interrupt_id"]: ["alpha task"]}}


def test_reject_cancels_a_waiting_run_with_the_reason(orch: Orchestrator, executors) -> None:
    run_id = orch.launch("plan_execute", APPROVAL_INPUT)
    executors()
    assert wait_status(orch, run_id)["status"] == "awaiting_input"
    assert orch.reject(run_id, "  not this quarter ") == "cancelled"
    run = orch.get_run(run_id)
    assert run["status"] == "cancelled"
    assert run["error"] == "Rejected: not this quarter"
    assert run["finished_at"] is not None
    with pytest.raises(AlreadyAnswered, match=r'\(rejected: "not this quarter"\) and was cancelled'):
        orch.reject(run_id, "again")
    assert orch.get_run(run_id)["error"] == "Rejected: not this quarter"
    assert orch.pending_interrupts(run_id) == []
    with pytest.raises(InvalidOperation, match="cancelled"):
        orch.approve(run_id, None)


# -- rerun and delete -------------------------------------------------------------------------


def test_rerun_queues_a_new_run_with_the_same_input(orch: Orchestrator, executors) -> None:
    run_id = orch.launch("simulate", {"tasks": 3, "delay_ms": 5, "seed": 7}, ["nightly"])
    executors()
    first = wait_status(orch, run_id)
    assert first["status"] == "succeeded"
    new_id = orch.rerun(run_id)
    assert new_id != run_id
    new = orch.get_run(new_id)
    assert new["rerun_of"] == run_id
    assert (new["workflow"], new["input"], new["tags"]) == (first["workflow"], first["input"], first["tags"])
    second = wait_status(orch, new_id)
    assert second["status"] == "succeeded"
    assert second["state_snapshot"]["summary"] == first["state_snapshot"]["summary"]  # same seed
    assert orch.get_run(run_id)["status"] == "succeeded"  # the original is untouched


def test_delete_removes_row_tasks_and_checkpoints(orch: Orchestrator, executors) -> None:
    keep = orch.launch("simulate", {"tasks": 2, "delay_ms": 0})
    run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 0})
    executors()
    assert wait_status(orch, run_id)["status"] == "succeeded"
    assert wait_status(orch, keep)["status"] == "succeeded"
    assert orch.store.get_tasks(run_id) and checkpoints(orch.config, run_id)[0]

    assert orch.delete(run_id) is True
    assert orch.store.get_run(run_id) is None
    assert orch.store.get_tasks(run_id) == []
    assert checkpoints(orch.config, run_id) == ([], [])
    assert orch.delete(run_id) is False
    # The other run keeps everything.
    assert orch.get_run(keep)["status"] == "succeeded"
    assert len(orch.store.get_tasks(keep)) == 4 and checkpoints(orch.config, keep)[0]


def test_delete_refuses_queued_and_running_runs(orch: Orchestrator, executors, tmp_path: Path) -> None:
    queued = orch.launch("simulate", {"tasks": 1})
    with pytest.raises(InvalidOperation, match="queued"):
        orch.delete(queued)
    assert orch.get_run(queued)["status"] == "queued"
    assert orch.cancel(queued) == "cancelled"

    running = orch.launch("gated", gated_input(tmp_path, tasks=2, allow=0))
    executors()
    wait_status(orch, running, ("running",))
    with pytest.raises(InvalidOperation, match="running"):
        orch.delete(running)
    assert orch.get_run(running)["status"] == "running"
    orch.cancel(running)
    assert wait_status(orch, running)["status"] == "cancelled"
    assert orch.delete(running) is True
    assert orch.delete(queued) is True
    assert orch.store.count_runs() == 0


def test_delete_a_run_cancelled_before_any_executor_ran(orch: Orchestrator) -> None:
    """No executor has created LangGraph's tables yet (PostgreSQL): delete must still work."""
    run_id = orch.launch("simulate", {"tasks": 1})
    assert orch.cancel(run_id) == "cancelled"
    assert orch.delete(run_id) is True
    assert orch.store.get_run(run_id) is None
    assert orch.delete(run_id) is False


# -- read-only --------------------------------------------------------------------------------


def test_read_only_refuses_every_change(orch: Orchestrator, config: OrchestratorConfig) -> None:
    run_id = orch.launch("simulate", {"tasks": 1})
    read_only = Orchestrator(fast_config(config, read_only=True))
    try:
        calls = {
            "launch": lambda: read_only.launch("simulate", {"tasks": 1}),
            "launch_copies": lambda: read_only.launch_copies("simulate", {"tasks": 1}, copies=2),
            "cancel": lambda: read_only.cancel(run_id),
            "resume": lambda: read_only.resume(run_id),
            "approve": lambda: read_only.approve(run_id, None),
            "reject": lambda: read_only.reject(run_id, "no"),
            "rerun": lambda: read_only.rerun(run_id),
            "delete": lambda: read_only.delete(run_id),
        }
        for name, call in calls.items():
            try:
                call()
            except ReadOnlyError as exc:
                assert "read-only" in str(exc)
            else:
                pytest.fail(f"{name} did not raise ReadOnlyError")
        # Reading still works, and nothing changed.
        assert read_only.get_run(run_id)["status"] == "queued"
        assert read_only.store.count_runs() == 1
    finally:
        read_only.engine.dispose()
