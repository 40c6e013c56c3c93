"""What the pages say about time is what really ran, on both backends, with the real executor.

- A task that waits for a concurrency slot is `waiting`, not running, and its wait is not its
  time; stopped before its work began it is `cancelled` and never drawn as work.
- A run's work time leaves out its waits for a person and between attempts; its wall time has
  them; the two add up (work <= wall, and the waits the test made are the difference at least).
- The overview, compare, run detail and the CSV read the same figure for every duration of the
  same run and node.
- A run's progress never goes back.
- A fork starts from the state as edited, reducer keys included, and holds only what ran up to it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from pathlib import Path
from typing import Any

import pytest

from dashboard.charts import timeline_frame
from orchestrator import metrics
from orchestrator.compare import compare_table
from orchestrator.config import OrchestratorConfig
from orchestrator.db import runs, utcnow
from orchestrator.executor import Executor
from orchestrator.graphs import graph_dot
from orchestrator.history import EDIT_WRITER, checkpoint_history
from orchestrator.metrics import Period
from orchestrator.operations import Orchestrator
from orchestrator.progress import run_progress
from orchestrator.runs import RunFilter
from orchestrator.runs_csv import csv_bytes
from tests.apptest_helpers import execute
from tests.checkpoint_reader import checkpoints
from tests.helpers import AT_REST, wait_for, with_workflows

WORKFLOWS = {
    "gated": "tests.engine_workflows:build_gated",
    "flaky": "tests.engine_workflows:build_flaky",
    "invoices": "tests.team_workflows:build_invoices",
}


@pytest.fixture
def orch(config: OrchestratorConfig) -> Any:
    orch = Orchestrator(with_workflows(config, WORKFLOWS, heartbeat_seconds=0.2))
    yield orch
    orch.engine.dispose()


class Running:
    """An executor serving in its own thread for the length of a `with` block."""

    def __init__(self, orch: Orchestrator):
        self.executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, poll_seconds=0.05)

    def __enter__(self) -> Executor:
        self.executor.start()
        return self.executor

    def __exit__(self, *exc: object) -> None:
        self.executor.stop(grace=5)


def settle(orch: Orchestrator, run_id: str, until: tuple[str, ...] = AT_REST) -> dict[str, Any]:
    return dict(
        wait_for(lambda: (r := orch.get_run(run_id))["status"] in until and r, 90, what=f"{run_id} {until}")
    )


def cancel_while_tasks_wait(orch: Orchestrator, tmp_path: Path) -> str:
    """A gated run whose five steps take one slot at a time: cancelled while four wait for it.
    The step in the slot works a minute, so it is still working when the cancel lands however
    loaded the machine (at 600 ms it had finished first, and a fifth step had begun)."""
    run_id = orch.launch("gated", {"dir": str(tmp_path / "c"), "tasks": 5, "fan_out": 1, "delay_ms": 60_000})

    def four_wait_one_works() -> bool:
        counts = orch.store.node_counts(run_id).get("work", {})
        return counts.get("waiting") == 4 and counts.get("running") == 1

    wait_for(four_wait_one_works, 60, interval=0.02, what="four steps waiting for the slot")
    # The graph says so (the words under the node), as run detail draws it.
    assert "4 waiting, 1 running" in graph_dot(orch.registry.get("gated"), orch.store.node_counts(run_id))
    assert orch.cancel(run_id) == "running"
    return run_id


def test_waiting_tasks_are_waiting_and_a_cancel_leaves_them_cancelled_not_worked(
    orch: Orchestrator, tmp_path: Path
) -> None:
    with Running(orch):
        run_id = cancel_while_tasks_wait(orch, tmp_path)
        assert settle(orch, run_id)["status"] == "cancelled"
    tasks = [t for t in orch.store.get_tasks(run_id) if t["node"] == "work"]
    statuses = sorted(t["status"] for t in tasks)
    assert statuses == ["cancelled"] * 4 + ["interrupted"]
    never = [t for t in tasks if t["status"] == "cancelled"]
    assert all(
        t["work_seconds"] is None and t["wait_seconds"] > 0 and t["work_started_at"] is None for t in never
    )
    # The timeline draws the one that worked, not the four that waited.
    frame = timeline_frame(orch.store.get_tasks(run_id))
    assert sorted(frame["node"]) == ["plan", "work"]
    assert "4 never started" in graph_dot(orch.registry.get("gated"), orch.store.node_counts(run_id))


def test_progress_never_goes_back(orch: Orchestrator) -> None:
    run_id = orch.launch("simulate", {"tasks": 40, "fan_out": 8, "delay_ms": 10})
    seen: list[float] = []
    with Running(orch):
        while (run := orch.get_run(run_id))["status"] not in AT_REST:
            fraction = run_progress(run).fraction
            assert fraction is not None  # simulate plans its 42 tasks before it starts
            seen.append(fraction)
            time.sleep(0.005)
    final = orch.get_run(run_id)
    assert final["status"] == "succeeded"
    assert run_progress(final).fraction == 1.0
    seen.append(1.0)
    assert seen == sorted(seen), "the progress went back"
    assert final["tasks_planned"] == 42 and final["tasks_total"] == 42
    # A workflow that does not know its tasks beforehand gives no fraction while it goes.
    unknown = {
        "status": "running",
        "tasks_total": 41,
        "tasks_completed": 41,
        "tasks_failed": 0,
        "tasks_planned": None,
    }
    assert run_progress(unknown).fraction is None
    assert run_progress(unknown).text == "41 of the 41 tasks started so far completed; more may follow"


def _csv_rows(orch: Orchestrator) -> dict[str, dict[str, str]]:
    text = csv_bytes(orch.store, RunFilter()).decode()
    return {row["run_id"]: row for row in csv.DictReader(io.StringIO(text))}


def _in_a_day_of_its_own(orch: Orchestrator, run_id: str, day: int) -> Period:
    """Move the run's creation to a day of its own (it only says when it was asked for), so the
    overview of that day holds it alone."""
    created = dt.datetime(2026, 1, day, 12, tzinfo=dt.UTC)
    assert orch.store.update_run(run_id, created_at=created)
    return Period(created - dt.timedelta(hours=12), created + dt.timedelta(hours=12))


def test_overview_compare_run_detail_and_csv_agree_on_every_duration(
    orch: Orchestrator, tmp_path: Path
) -> None:
    """Runs with slot waits, an approval wait, a resume after a pause and a cancel while tasks
    waited: each run's work and wall time, and each node's time, read the same everywhere."""
    pause = 1.0
    slots = orch.launch("gated", {"dir": str(tmp_path / "s"), "tasks": 4, "fan_out": 1, "delay_ms": 100})
    approval = orch.launch("plan_execute", {"goal": "Collect logs; parse them", "require_approval": True})
    flaky = orch.launch(
        "flaky",
        {"marker": str(tmp_path / "marker"), "log_dir": str(tmp_path / "log"), "tasks": 3, "fail_index": 1},
    )
    with Running(orch):
        cancelled = cancel_while_tasks_wait(orch, tmp_path)
        assert settle(orch, slots)["status"] == "succeeded"
        assert settle(orch, approval)["status"] == "awaiting_input"
        assert settle(orch, flaky)["status"] == "failed"
        time.sleep(pause)  # a person thinks; a failed run waits to be resumed
        assert orch.approve(approval) == "queued"
        assert orch.resume(flaky) == "queued"
        for run_id in (approval, flaky):
            assert settle(orch, run_id)["status"] == "succeeded"
        assert settle(orch, cancelled)["status"] == "cancelled"
    ids = [slots, approval, flaky, cancelled]
    runs_now = {r["run_id"]: r for r in orch.store.get_runs(ids)}
    for run_id in (approval, flaky):  # they waited `pause` and more between their attempts
        assert runs_now[run_id]["wall_seconds"] - runs_now[run_id]["work_seconds"] >= pause - 0.01
    for run in runs_now.values():
        assert 0 < run["work_seconds"] <= run["wall_seconds"]

    # Run detail reads get_run; compare, the CSV and the overview must say the same.
    table = {row["key"]: row["values"] for row in compare_table(orch.store.get_runs(ids))}
    exported = _csv_rows(orch)
    for index, run_id in enumerate(ids):
        detail = orch.get_run(run_id)
        for key in ("work_seconds", "wall_seconds"):
            assert table[key][index] == detail[key], (run_id, key)
            assert float(exported[run_id][key]) == pytest.approx(detail[key], abs=1e-9), (run_id, key)
        period = _in_a_day_of_its_own(orch, run_id, 5 + index)
        figures = metrics.figures(orch.engine, period)
        # Alone in its bin, a percentile is the value itself (to the millisecond and better).
        assert figures["p50_work_seconds"] == pytest.approx(detail["work_seconds"], abs=1e-6), run_id
        assert figures["p50_wall_seconds"] == pytest.approx(detail["wall_seconds"], abs=1e-6), run_id

    # A node's mean time on the overview is the mean of its tasks' work on run detail and compare.
    tasks = [t for run_id in ids for t in orch.store.get_tasks(run_id)]
    hours = Period(utcnow() - dt.timedelta(hours=3), utcnow() + dt.timedelta(hours=1))
    nodes = {n["node"]: n for n in metrics.node_stats(orch.engine, hours, limit=99)}
    for node in {t["node"] for t in tasks}:
        worked = [t["work_seconds"] for t in tasks if t["node"] == node and t["work_seconds"] is not None]
        assert nodes[node]["tasks"] == sum(t["node"] == node for t in tasks), node
        if worked:
            assert nodes[node]["mean_seconds"] == pytest.approx(sum(worked) / len(worked), abs=1e-6), node
    # The slots' steps worked ~0.1 s each, however long they waited. One slot: their work, one
    # after another, fits in the run's wall time only if no wait was counted as work, and the
    # last one waited out the others' work (no figure of the machine's speed: "under 1.1 s").
    slot_work = [t for t in orch.store.get_tasks(slots) if t["node"] == "work"]
    assert sum(t["wait_seconds"] > 0.05 for t in slot_work) >= 2
    assert sum(t["work_seconds"] for t in slot_work) <= orch.get_run(slots)["wall_seconds"]
    assert max(t["wait_seconds"] for t in slot_work) > min(t["work_seconds"] for t in slot_work)


def test_a_fork_starts_from_the_state_as_edited_reducer_keys_included(
    orch: Orchestrator, tmp_path: Path
) -> None:
    run_id = orch.launch("invoices", {"count": 3, "dir": str(tmp_path)}, config={"ledger_url": "u"})
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    # Step 2: after the three checks (a reducer key, `checked`), before the review question.
    after_checks = next(t for t in checkpoints(orch.config, run_id) if t.metadata.get("step") == 2)
    edited = [{"index": 7, "ledger": "edited"}]
    fork_id = orch.fork(run_id, after_checks.config["configurable"]["checkpoint_id"], {"checked": edited})
    # LangGraph's own get_state at the fork's head: exactly the edited list, not added to the old one.
    graph = orch.registry.get("invoices").build()
    from orchestrator.checkpointer import open_sync_saver

    with open_sync_saver(orch.config) as saver:
        state = graph.compile(checkpointer=saver).get_state({"configurable": {"thread_id": fork_id}})
    assert state.values["checked"] == edited
    assert state.next == ("review",)
    # Before it runs, the fork holds no task of the parent's later steps.
    assert orch.store.get_tasks(fork_id) == []
    run = execute(orch, [fork_id])[fork_id]
    assert run["status"] == "awaiting_input", run["error"]
    (question,) = orch.pending_interrupts(fork_id)
    assert question["value"] == {"question": "Post these invoices?", "invoices": 1}
    # Its rows: what ran up to the fork point (plan, three checks) and its own question.
    nodes = sorted((t["node"], t["status"]) for t in orch.store.get_tasks(fork_id))
    assert nodes == [("check", "succeeded")] * 3 + [("plan", "succeeded"), ("review", "awaiting_input")]
    # The edit is named as such in the checkpoint list and compare, not by LangGraph's writer id.
    history = checkpoint_history(
        orch.config, fork_id, {t["task_id"]: t["node"] for t in orch.store.get_tasks(fork_id)}
    )
    edit = next(h for h in history if h["source"] == "update")
    assert edit["writers"] == [EDIT_WRITER]
    names = {"plan", "check", "review", "approve_post", "post", EDIT_WRITER, "(input)", "(resume value)"}
    assert {w for h in history for w in h["writers"]} <= names


def test_fork_state_is_checked_against_the_workflows_keys(orch: Orchestrator, tmp_path: Path) -> None:
    from orchestrator.errors import InputError

    run_id = orch.launch("plan_execute", {"goal": "Collect logs; parse them", "require_approval": True})
    execute(orch, [run_id])
    point = next(t for t in checkpoints(orch.config, run_id) if t.metadata.get("step") == 1)
    checkpoint_id = point.config["configurable"]["checkpoint_id"]
    with pytest.raises(InputError, match=r"^The state to fork with must be a JSON object .*, not list\.$"):
        orch.fork(run_id, checkpoint_id, [1])  # type: ignore[arg-type]
    with pytest.raises(
        InputError, match=r"^The workflow's state has no key 'nope'; give only its keys \(goal, "
    ):
        orch.fork(run_id, checkpoint_id, {"nope": 1})
    assert orch.store.count_runs() == 1  # nothing left behind


def test_a_running_run_shows_its_time_so_far(orch: Orchestrator, tmp_path: Path) -> None:
    run_id = orch.launch("gated", {"dir": str(tmp_path), "tasks": 2, "allow": 0, "delay_ms": 1})
    with Running(orch):
        settle(orch, run_id, ("running",))
        wait_for(lambda: (orch.get_run(run_id)["work_seconds"] or 0) > 0.3, 30, what="some work time")
        run = orch.get_run(run_id)
        assert run["wall_seconds"] >= run["work_seconds"] > 0.3  # read as of now, not "–"
        listed = orch.store.page_runs(RunFilter(statuses=["running"]))[0]
        assert listed["wall_seconds"] >= run["wall_seconds"]
        (tmp_path / "open").write_text("go")
        settle(orch, run_id)
    with orch.engine.connect() as conn:
        from sqlalchemy import select

        stored = conn.execute(
            select(runs.c.work_seconds, runs.c.wall_seconds).where(runs.c.run_id == run_id)
        ).one()
    assert (stored.work_seconds, stored.wall_seconds) == (
        orch.get_run(run_id)["work_seconds"],
        orch.get_run(run_id)["wall_seconds"],
    )
