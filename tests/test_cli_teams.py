"""The CLI's team commands the README lists (in this process, on both backends): `presets
list|save|delete`, `run --preset / --config`, `respond --action`, `fork --checkpoint --state` and
`workers`. A team's graph is tests/team_workflows.py; expected values are written by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute
from tests.checkpoint_reader import checkpoints
from tests.helpers import with_workflows
from tests.in_process_cli import assert_one_error_line, call_cli

TEAM = {"invoices": "tests.team_workflows:build_invoices"}
LEDGER = {"ledger_url": "https://ledger.example/api"}


@pytest.fixture
def team(config: OrchestratorConfig, clean_env: pytest.MonkeyPatch) -> Iterator[Orchestrator]:
    """The test's database with the team's workflow, registered for the CLI through the environment."""
    clean_env.setenv("ORCHESTRATOR_WORKFLOWS", json.dumps(TEAM))
    orch = Orchestrator(with_workflows(config, TEAM))
    yield orch
    orch.engine.dispose()


@pytest.fixture
def db(config: OrchestratorConfig) -> list[str]:
    if config.checkpoint_mode == "sqlite":
        return ["--mode", "sqlite", "--sqlite-path", str(config.sqlite_path)]
    return ["--mode", "postgres", "--postgres-uri", str(config.postgres_uri)]


def run_id_of(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("run_id: ")]
    return line.removeprefix("run_id: ")


def test_presets_save_list_run_and_delete(team: Orchestrator, db: list[str], tmp_path: Path) -> None:
    saved = call_cli(
        "presets", "save", "invoices", "emea",
        "--input", json.dumps({"count": 3, "dir": str(tmp_path)}),
        "--config", json.dumps(LEDGER),
        "--description", "EMEA month end",
        *db,
    )  # fmt: skip
    assert (saved.code, saved.out) == (0, "saved: invoices/emea\n"), saved
    listed = call_cli("presets", "list", "--json", *db)
    assert listed.code == 0, listed
    [preset] = json.loads(listed.out)
    assert (preset["workflow"], preset["name"], preset["config"], preset["description"]) == (
        "invoices",
        "emea",
        LEDGER,
        "EMEA month end",
    )
    assert preset["input"]["count"] == 3

    # --preset, with --input over it key by key
    launched = call_cli("run", "invoices", "--preset", "emea", "--input", '{"count": 2}', *db)
    assert launched.code == 0, launched
    run = team.get_run(run_id_of(launched.out))
    assert run["input"] is not None
    assert (run["input"]["count"], run["input"]["dir"], run["config"], run["preset"]) == (
        2,
        str(tmp_path),
        LEDGER,
        "emea",
    )
    # --config alone; a missing config key is one line
    with_config = call_cli(
        "run", "invoices", "--input", json.dumps({"count": 1, "dir": str(tmp_path)}),
        "--config", '{"ledger_url": "https://other.example"}', *db,
    )  # fmt: skip
    assert team.get_run(run_id_of(with_config.out))["config"] == {"ledger_url": "https://other.example"}
    assert_one_error_line(
        call_cli("run", "invoices", "--input", json.dumps({"count": 1, "dir": str(tmp_path)}), *db),
        "ledger_url",
    )

    deleted = call_cli("presets", "delete", "invoices", "emea", *db)
    assert (deleted.code, deleted.out) == (0, "deleted\n"), deleted
    assert json.loads(call_cli("presets", "list", "--json", *db).out) == []
    assert_one_error_line(
        call_cli("presets", "save", "invoices", *db), "presets save needs a workflow and a name."
    )


def test_respond_edit_answers_an_agent_inbox_request(
    team: Orchestrator, db: list[str], tmp_path: Path
) -> None:
    run_id = team.launch("invoices", {"count": 4, "dir": str(tmp_path)}, config=LEDGER)
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"  # "Post these invoices?"
    assert team.approve(run_id) == "queued"
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"  # the Agent Inbox request

    refused = call_cli("respond", run_id, "--action", "edit", "--args", "{not json", *db)
    assert assert_one_error_line(refused).startswith("error: --args")
    edited = {"url": "https://other.example", "invoices": 3}
    answered = call_cli("respond", run_id, "--action", "edit", "--args", json.dumps(edited), "--wait", *db)
    assert answered.code == 0, answered
    assert answered.out.splitlines()[0] == "respond: queued"
    run = team.get_run(run_id)
    assert run["status"] == "succeeded", run["error"]
    assert run["state_snapshot"]["posted"] == {"posted": True, "args": edited}


def test_fork_from_a_checkpoint_with_an_edited_state(team: Orchestrator, db: list[str]) -> None:
    run_id = team.launch("plan_execute", {"goal": "Collect logs; parse them", "require_approval": True})
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"
    # the checkpoint where the run waits at `approve`, read with LangGraph's own saver
    (at_question,) = [t for t in checkpoints(team.config, run_id) if t.metadata.get("step") == 1]
    checkpoint_id = at_question.config["configurable"]["checkpoint_id"]

    forked = call_cli(
        "fork", run_id, "--checkpoint", checkpoint_id, "--state", '{"goal": "Edited goal"}', *db
    )
    assert forked.code == 0, forked
    fork_id = forked.out.strip().removeprefix("fork: ")
    fork = team.get_run(fork_id)
    assert (fork["status"], fork["parent_run_id"], fork["parent_checkpoint_id"]) == (
        "queued",
        run_id,
        checkpoint_id,
    )
    run = execute(team, [fork_id])[fork_id]
    assert run["status"] == "awaiting_input"
    assert run["state_snapshot"]["goal"] == "Edited goal"
    assert_one_error_line(call_cli("fork", run_id, "--checkpoint", "nope", *db), "has no checkpoint 'nope'")


def test_workers_lists_a_serving_worker(team: Orchestrator, db: list[str], workers) -> None:
    assert json.loads(call_cli("workers", "--json", *db).out) == []
    worker = workers("w", team.config, "--concurrency", "2")
    worker.wait_serving()
    listed = call_cli("workers", "--online", "--json", *db)
    assert listed.code == 0, listed
    [row] = json.loads(listed.out)
    assert (row["online"], row["concurrency"], row["running"]) == (True, 2, 0)
    assert {"simulate", "plan_execute", "invoices"} <= set(row["workflows"])
    table = call_cli("workers", *db)
    assert table.out.splitlines()[0].split() == [
        "worker",
        "online",
        "last",
        "heartbeat",
        "(UTC)",
        "runs",
        "workflows",
    ]
    assert " yes " in table.out.splitlines()[1]
    assert worker.terminate() == 0, worker.describe()
    assert json.loads(call_cli("workers", "--online", "--json", *db).out) == []
