"""The CLI's words for what people trip over (issue 23): the shared flags before the command,
an empty task-count range, and `respond` to a plain question naming the command that answers it
(in this process, both backends)."""

from __future__ import annotations

import json

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


def test_runs_launched_by_finds_who_launched_them(config: OrchestratorConfig, engine) -> None:
    """`runs --launched-by`: the runs page's "Launched by" filter; `run` records `cli:user@host`."""
    orch = Orchestrator(config, engine=engine)
    (ann,) = orch.launch_copies("simulate", {"tasks": 1}, launched_by="ann@example.com")
    orch.launch_copies("simulate", {"tasks": 1}, launched_by="browser:someone-else")
    ran = call_cli("run", "simulate", "--input", '{"tasks": 1}', *database_args(config))
    assert ran.code == 0, ran
    mine = ran.out.split("run_id: ", 1)[1].split()[0]
    launcher = orch.get_run(mine)["launched_by"]
    assert launcher.startswith("cli:") and "@" in launcher

    for who, expected in (("ann@example.com", [ann]), (launcher, [mine]), ("nobody", [])):
        found = call_cli("runs", "--launched-by", who, "--json", *database_args(config))
        assert found.code == 0, found
        assert [r["run_id"] for r in json.loads(found.out)["runs"]] == expected, who
