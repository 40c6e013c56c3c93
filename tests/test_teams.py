"""A team's own graph (tests/team_workflows.py) on both backends: per-run config, interrupts of
every kind answered, presets, fork from a checkpoint, max_concurrency without lost work, and
workers that run only what they can build. Expected values are written out by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError, InvalidOperation
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute
from tests.checkpoint_reader import checkpoints, saved_writes
from tests.helpers import queue_unchecked_answer, wait_for, with_workflows
from tests.processes import wait_status

TEAM = {"invoices": "tests.team_workflows:build_invoices"}
LEDGER = {"ledger_url": "https://ledger.example/api"}


@pytest.fixture
def team(config: OrchestratorConfig) -> Iterator[Orchestrator]:
    orch = Orchestrator(with_workflows(config, TEAM, heartbeat_seconds=0.2))
    yield orch
    orch.engine.dispose()


def launch(orch: Orchestrator, tmp_path: Path, **input: Any) -> str:
    return orch.launch("invoices", {"count": 4, "dir": str(tmp_path), **input}, config=LEDGER)


def answer_review_and_wait(orch: Orchestrator, run_id: str) -> dict[str, Any]:
    """Run to the review question, approve it as proposed, run to the Agent Inbox request."""
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    assert orch.approve(run_id) == "queued"
    run = execute(orch, [run_id])[run_id]
    assert run["status"] == "awaiting_input", run["error"]
    return run


# -- per-run config --------------------------------------------------------------------------


def test_the_runs_config_reaches_the_graph_and_is_kept(team: Orchestrator, tmp_path: Path) -> None:
    run_id = launch(team, tmp_path)
    run = answer_review_and_wait(team, run_id)
    assert run["config"] == LEDGER
    assert {c["ledger"] for c in run["state_snapshot"]["checked"]} == {LEDGER["ledger_url"]}
    (question,) = team.pending_interrupts(run_id)
    assert question["value"][0]["action_request"]["args"] == {"url": LEDGER["ledger_url"], "invoices": 4}


def test_config_and_input_errors_come_together_field_by_field(team: Orchestrator, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        team.launch("invoices", {"count": 0, "fail_on": 9, "labels": {"q": "four"}}, config={})
    errors = info.value.field_errors
    assert errors["count"] == "must be at least 1"
    assert errors["labels.q"] == "must be a whole number"
    assert errors["config.ledger_url"] == "is required"
    with pytest.raises(InputError, match="fail_on must name one of the invoices"):
        team.launch("invoices", {"count": 2, "fail_on": 5}, config=LEDGER)
    with pytest.raises(InputError, match="'thread_id' is set by the orchestrator"):
        team.launch("invoices", {"count": 2}, config={**LEDGER, "thread_id": "x"})
    assert team.store.count_runs() == 0


# -- interrupts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("respond", "posted"),
    [
        (("accept", None), {"posted": True, "args": None}),
        (
            ("edit", {"url": "https://other.example", "invoices": 3}),
            {"posted": True, "args": {"url": "https://other.example", "invoices": 3}},
        ),
        (("response", "wait for the audit"), {"posted": False, "note": "wait for the audit"}),
        (("ignore", None), {"posted": False}),
    ],
)
def test_an_agent_inbox_request_answered_each_way(
    team: Orchestrator, tmp_path: Path, respond: tuple[str, Any], posted: dict[str, Any]
) -> None:
    run_id = launch(team, tmp_path)
    answer_review_and_wait(team, run_id)
    assert team.respond(run_id, *respond) == "queued"
    run = execute(team, [run_id])[run_id]
    assert run["status"] == "succeeded", run["error"]
    assert run["state_snapshot"]["posted"] == posted


def test_reject_reaches_a_graph_that_takes_it(team: Orchestrator, tmp_path: Path) -> None:
    run_id = launch(team, tmp_path)
    answer_review_and_wait(team, run_id)
    assert team.reject(run_id, "not this month") == "queued"  # the request allows ignore
    run = execute(team, [run_id])[run_id]
    assert (run["status"], run["state_snapshot"]["posted"]) == ("succeeded", {"posted": False})


def test_a_dict_question_answered_with_json(team: Orchestrator, tmp_path: Path) -> None:
    run_id = launch(team, tmp_path)
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"
    (question,) = team.pending_interrupts(run_id)
    assert question["value"] == {"question": "Post these invoices?", "invoices": 4}
    assert team.approve(run_id, {"post": False, "note": "later"}) == "queued"
    run = execute(team, [run_id])[run_id]
    assert run["status"] == "succeeded"
    assert run["state_snapshot"]["review"] == {"post": False, "note": "later"}
    assert "posted" not in run["state_snapshot"]
    with pytest.raises(InvalidOperation, match=r"already answered by someone at .* and has already succeeded"):
        team.approve(run_id)


def test_agent_inbox_refuses_what_the_request_does_not_allow(team: Orchestrator, tmp_path: Path) -> None:
    run_id = launch(team, tmp_path)
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"
    with pytest.raises(InputError, match="not an Agent Inbox request"):
        team.respond(run_id, "accept")
    team.approve(run_id)
    execute(team, [run_id])
    with pytest.raises(InputError, match="A response needs some text"):
        team.respond(run_id, "response", "  ")
    with pytest.raises(InputError, match="Unknown response 'approve'"):
        team.respond(run_id, "approve")


def test_plan_execute_approved_without_a_value_keeps_its_plan(team: Orchestrator) -> None:
    goal = "Collect logs; parse them; then report"
    run_id = team.launch("plan_execute", {"goal": goal, "require_approval": True})
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"
    assert team.approve(run_id) == "queued"
    run = execute(team, [run_id])[run_id]
    assert run["status"] == "succeeded", run["error"]
    assert run["state_snapshot"]["plan"] == ["Collect logs", "Parse them", "Report"]
    assert run["state_snapshot"]["summary"]["tasks"] == 3


# -- presets ---------------------------------------------------------------------------------


def test_a_preset_launches_with_its_input_and_config(team: Orchestrator, tmp_path: Path) -> None:
    team.save_preset(
        "invoices", "emea", {"count": 3, "dir": str(tmp_path)}, LEDGER, description="EMEA month end"
    )
    [preset] = team.presets.list("invoices")
    assert (preset["name"], preset["input"]["count"], preset["config"], preset["description"]) == (
        "emea",
        3,
        LEDGER,
        "EMEA month end",
    )
    run_id = team.launch("invoices", {"count": 2}, preset="emea")
    run = team.get_run(run_id)
    assert (run["input"]["count"], run["input"]["dir"], run["config"], run["preset"]) == (
        2,
        str(tmp_path),
        LEDGER,
        "emea",
    )
    with pytest.raises(InputError, match="has no preset 'nope'; choose one of emea"):
        team.launch("invoices", {}, preset="nope")
    with pytest.raises(InputError, match="ledger_url"):
        team.save_preset("invoices", "broken", {"count": 1}, {})
    assert team.presets.delete("invoices", "emea") is True
    assert team.presets.list() == []


# -- fork ------------------------------------------------------------------------------------


def test_a_wrong_answer_is_corrected_by_forking_before_the_question(team: Orchestrator) -> None:
    goal = "Collect logs; parse them; then report"
    run_id = team.launch("plan_execute", {"goal": goal, "require_approval": True})
    execute(team, [run_id])
    with pytest.raises(InputError, match="list of task strings"):
        team.approve(run_id, {"plan": 5})  # a wrong answer is refused at once
    queue_unchecked_answer(team, run_id, {"plan": 5})  # as an older version took it: the run fails on it
    failed = execute(team, [run_id])[run_id]
    assert failed["status"] == "failed"
    assert "list of task strings" in failed["error"]
    with pytest.raises(InvalidOperation, match="fork the run"):
        team.approve(run_id, ["a"])
    # The checkpoint where the run waited at `approve` (read with LangGraph's own saver).
    waiting_at = [t for t in checkpoints(team.config, run_id) if t.metadata.get("step") == 1]
    assert len(waiting_at) == 1
    checkpoint_id = waiting_at[0].config["configurable"]["checkpoint_id"]

    fork_id = team.fork(run_id, checkpoint_id)
    fork = team.get_run(fork_id)
    assert (fork["parent_run_id"], fork["parent_checkpoint_id"], fork["parent_step"]) == (
        run_id,
        checkpoint_id,
        1,
    )
    assert fork["input"] == failed["input"]
    assert execute(team, [fork_id])[fork_id]["status"] == "awaiting_input"
    assert team.approve(fork_id, ["Collect logs", "Write the report"]) == "queued"
    done = execute(team, [fork_id])[fork_id]
    assert done["status"] == "succeeded", done["error"]
    assert done["state_snapshot"]["plan"] == ["Collect logs", "Write the report"]
    # The fork's history is the parent's up to the fork point: same checkpoint ids, then apart.
    parent_ids = [t.config["configurable"]["checkpoint_id"] for t in checkpoints(team.config, run_id)]
    fork_ids = [t.config["configurable"]["checkpoint_id"] for t in checkpoints(team.config, fork_id)]
    assert fork_ids[:3] == parent_ids[:3] and fork_ids[2] == checkpoint_id
    assert fork_ids[3] not in parent_ids
    assert team.get_run(run_id)["status"] == "failed"  # the parent is left as it was


def test_a_fork_with_an_edited_state(team: Orchestrator) -> None:
    run_id = team.launch("plan_execute", {"goal": "Collect logs; parse them", "require_approval": True})
    execute(team, [run_id])
    at_question = next(t for t in checkpoints(team.config, run_id) if t.metadata.get("step") == 1)
    fork_id = team.fork(run_id, at_question.config["configurable"]["checkpoint_id"], {"goal": "Edited goal"})
    run = execute(team, [fork_id])[fork_id]
    assert run["status"] == "awaiting_input"
    assert run["state_snapshot"]["goal"] == "Edited goal"
    with pytest.raises(InputError, match="has no checkpoint 'nope'"):
        team.fork(run_id, "nope")
    assert team.store.count_runs() == 2  # a failed fork leaves no run behind


def test_a_fork_after_a_fan_out_with_an_edited_state_does_not_send_the_fan_out_again(
    team: Orchestrator, tmp_path: Path
) -> None:
    run_id = launch(team, tmp_path, count=3)
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"
    # Step 2: the three `check` tasks of the fan-out have written; the run waits at `review`.
    after_checks = next(t for t in checkpoints(team.config, run_id) if t.metadata.get("step") == 2)
    fork_id = team.fork(
        run_id, after_checks.config["configurable"]["checkpoint_id"], {"labels": {"forked": 1}}
    )
    run = execute(team, [fork_id])[fork_id]
    assert run["status"] == "awaiting_input", run["error"]
    assert run["state_snapshot"]["labels"] == {"forked": 1}
    assert sorted(c["index"] for c in run["state_snapshot"]["checked"]) == [0, 1, 2]  # not sent again
    assert len(list((tmp_path / "executions").iterdir())) == 3  # each check executed once, in the parent
    (question,) = team.pending_interrupts(fork_id)
    assert question["value"] == {"question": "Post these invoices?", "invoices": 3}


# -- steps -----------------------------------------------------------------------------------


def test_each_task_records_its_step(team: Orchestrator) -> None:
    run_id = team.launch("simulate", {"tasks": 3, "delay_ms": 1})
    execute(team, [run_id])
    steps = {(t["node"], t["step"]) for t in team.store.get_tasks(run_id)}
    assert steps == {("plan", 1), ("work", 2), ("summarize", 3)}


# -- max_concurrency without lost work --------------------------------------------------------


def test_max_concurrency_bounds_the_work_and_a_crash_loses_no_finished_check(
    team: Orchestrator, workers, tmp_path: Path
) -> None:
    config = team.config
    run_id = team.launch("invoices", {"count": 8, "dir": str(tmp_path), "gated_from": 5}, config=LEDGER)
    first = workers("first", config, "--concurrency", "1")

    def five_saved() -> bool:
        assert first.proc.poll() is None, first.describe()
        return len(saved_writes(config, run_id, "checked")) == 5

    wait_for(five_saved, 120, interval=0.05, what="five checks saved")
    first.kill()
    # LangGraph's own max_concurrency would have saved nothing before the step ended.
    saved_before = sorted(c["index"] for batch in saved_writes(config, run_id, "checked") for c in batch)
    assert saved_before == [0, 1, 2, 3, 4]

    second = workers("second", config, "--concurrency", "1", ORCHESTRATOR_STALE_AFTER_SECONDS="1.5")
    wait_status(team, run_id, ("interrupted",), 60)
    (tmp_path / "open").write_text("go")
    assert team.resume(run_id) == "queued"
    assert wait_status(team, run_id, ("awaiting_input", "failed"), 120)["status"] == "awaiting_input"
    assert second.terminate() == 0, second.describe()

    ran: dict[int, int] = {}
    intervals: list[tuple[float, int]] = []
    for path in (tmp_path / "executions").iterdir():
        index = int(path.name.split("-")[0])
        ran[index] = ran.get(index, 0) + 1
        began, ended = map(float, path.read_text().split())
        intervals += [(began, 1), (ended, -1)]
    assert ran == dict.fromkeys(range(8), 1)  # no check ran twice, none was lost
    # At most two checks worked at once, by the times the checks themselves wrote down.
    peak = running = 0
    for _, change in sorted(intervals):
        running += change
        peak = max(peak, running)
    assert peak == 2
    assert sum(t["node"] == "check" and t["status"] == "succeeded" for t in team.store.get_tasks(run_id)) == 8


# -- workers by capability ------------------------------------------------------------------


def test_workers_claim_only_what_they_can_build(team: Orchestrator, workers, tmp_path: Path) -> None:
    config = team.config
    run_id = launch(team, tmp_path)
    # A worker without the team's module: it must leave the run alone and say so at start.
    plain = workers(
        "plain",
        config,
        "--concurrency",
        "2",
        ORCHESTRATOR_WORKFLOWS=json.dumps({"invoices": "no_such.module:build"}),
    )
    plain.wait_serving()
    assert "Workflow invoices cannot be loaded" in plain.stdout
    wait_for(lambda: team.workers(include_offline=False), 30, what="the worker to record itself")
    reason = team.waiting_reason(team.get_run(run_id))
    assert reason is not None and "No online worker can run workflow 'invoices'" in reason
    [listed] = team.workers()
    assert (
        listed["online"] and "invoices" not in listed["workflows"] and "invoices" in (listed["broken"] or {})
    )

    # A worker with the module: an executor in this process (the one that cannot build the
    # workflow, above, is the process whose start-up is checked), on the same database.
    able = Executor(config, concurrency=2, poll_seconds=0.1)
    able.start()
    try:
        assert wait_status(team, run_id, ("awaiting_input",), 60)["worker"] == able.worker
        assert plain.claimed() == []
        assert team.waiting_reason(team.get_run(run_id)) is None
        assert {w["worker"] for w in team.workers(include_offline=False)} == {able.worker, listed["worker"]}
    finally:
        able.stop(grace=5)
        able.engine.dispose()
    assert not able.is_alive
    assert plain.terminate() == 0, plain.describe()
    assert not any(w["online"] for w in team.workers())


# -- the graph, drawn ----------------------------------------------------------------------------


def test_the_graph_is_drawn_from_langgraph_with_a_runs_statuses(team: Orchestrator, tmp_path: Path) -> None:
    from orchestrator.graphs import graph_dot

    spec = team.registry.get("invoices")
    plain = graph_dot(spec)
    for edge in (
        '"__start__" -> "plan";',
        '"plan" -> "check" [style=dashed, label=""];',
        '"check" -> "review";',
        '"review" -> "approve_post" [style=dashed, label=""];',
        '"review" -> "__end__" [style=dashed, label=""];',
        '"approve_post" -> "post";',
    ):
        assert edge in plain
    assert '"check" [label="check", fillcolor="#ffffff"' in plain

    run_id = launch(team, tmp_path, fail_on=2)
    run = execute(team, [run_id])[run_id]
    assert run["status"] == "failed"
    counts = team.store.node_counts(run_id)
    assert counts["plan"] == {"succeeded": 1}
    assert counts["check"].get("failed") == 1
    drawn = graph_dot(spec, counts)
    assert '"plan" [label="plan\\n1 done", fillcolor="#e8f5e9", color="#2e7d32"];' in drawn
    # The words in the life's order (done before failed), the node in the failed colour.
    (check,) = [line for line in drawn.splitlines() if line.strip().startswith('"check" [label=')]
    assert "1 failed" in check and 'fillcolor="#fdecea"' in check
    assert '"review" [label="review", fillcolor="#ffffff"' in drawn
