"""The CLI's words for what people trip over (issue 23): the shared flags before the command,
an empty task-count range, and `respond` to a plain question naming the command that answers it
(in this process, both backends)."""

from __future__ import annotations

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.in_process_cli import assert_one_error_line, call_cli, database_args


def test_shared_flags_work_before_the_command_too(config: OrchestratorConfig, engine) -> None:
    Orchestrator(config, engine=engine).launch("simulate", {"tasks": 1})
    before = call_cli(*database_args(config), "runs", "--json")
    after = call_cli("runs", "--json", *database_args(config))
    assert before.code == after.code == 0, (before.err, after.err)
    assert '"total": 1' in before.out and before.out == after.out
    # A mistyped mode before the command: the config's sentence, not argparse's "invalid choice".
    line = assert_one_error_line(call_cli("--mode", "postgre", "doctor"), "Unknown checkpoint_mode: 'postgre'")
    assert "invalid choice" not in line


def test_an_empty_task_range_is_said(config: OrchestratorConfig, engine) -> None:
    outcome = call_cli("runs", "--min-tasks", "10", "--max-tasks", "5", *database_args(config))
    assert_one_error_line(outcome, "--min-tasks 10 is more than --max-tasks 5", "the range is empty")
    assert call_cli("runs", "--min-tasks", "5", "--max-tasks", "5", *database_args(config)).code == 0


def test_respond_to_a_plain_question_names_approve(config: OrchestratorConfig, engine) -> None:
    orch = Orchestrator(config, engine=engine)
    run_id = orch.launch("simulate", {"tasks": 1})
    orch.store.update_run(
        run_id, status="awaiting_input", state_snapshot={"__interrupt__": [{"id": "q1", "value": {"ok": True}}]}
    )
    outcome = call_cli("respond", run_id, "--action", "accept", *database_args(config))
    assert_one_error_line(outcome, "asks a plain question", f"`approve {run_id} --value '<JSON>'`")
    assert orch.get_run(run_id)["status"] == "awaiting_input"  # nothing sent
