"""The CLI's flags the README lists, on both backends:
`runs --since/--until/--search/--workflow/--sort/--offset`, `run` without `--wait`, `resume`,
`approve --value / --interrupt-id`, `reject --reason`, answering one of several interrupts by
id, and the sentences for a bad `--since`, "no pending interrupt" and two pending interrupts.
`resume --wait` runs as a real `python -m orchestrator` process (`cli_process`); the other
commands are called in this process (`cli`: the same answers, without an interpreter start-up
per call).

Runs are brought to the state a command needs by a standalone executor in this process
(tests/apptest_helpers.execute), which waits on the runs' statuses, never on time.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute
from tests.helpers import cli_env, with_workflows
from tests.in_process_cli import call_cli, database_args
from tests.test_cli_runs import assert_one_error_line, summary_of

WORKFLOWS = {
    "two_questions": "tests.interrupt_workflows:build_two_questions",
    "flaky": "tests.engine_workflows:build_flaky",
}

Cli = Callable[..., subprocess.CompletedProcess]

# LangGraph drops the sibling tasks of a failing step without awaiting them.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine 'arun_with_retry' was never awaited:RuntimeWarning")


@pytest.fixture
def wf_config(config: OrchestratorConfig) -> OrchestratorConfig:
    """The test's database (both backends) with the test workflows registered."""
    return with_workflows(config, WORKFLOWS)


@pytest.fixture
def orch(wf_config: OrchestratorConfig, engine) -> Orchestrator:
    return Orchestrator(wf_config, engine=engine)


@pytest.fixture
def cli(wf_config: OrchestratorConfig, clean_env: pytest.MonkeyPatch) -> Cli:
    """`cli.main(ARGS --mode … (the test's database))` in this process, in tmp_path with no other
    setting (conftest's `clean_env`), the test workflows registered through ORCHESTRATOR_WORKFLOWS."""
    clean_env.setenv("ORCHESTRATOR_WORKFLOWS", json.dumps(WORKFLOWS))

    def run(*args: str) -> subprocess.CompletedProcess:
        outcome = call_cli(*args, *database_args(wf_config))
        return subprocess.CompletedProcess(["orchestrator", *args], outcome.code, outcome.out, outcome.err)

    return run


@pytest.fixture
def cli_process(wf_config: OrchestratorConfig, tmp_path: Path) -> Cli:
    """`python -m orchestrator ARGS --mode … (the test's database)` in tmp_path, the test workflows
    registered through ORCHESTRATOR_WORKFLOWS."""
    if wf_config.checkpoint_mode == "sqlite":
        database = ["--mode", "sqlite", "--sqlite-path", str(wf_config.sqlite_path)]
    else:
        database = ["--mode", "postgres", "--postgres-uri", str(wf_config.postgres_uri)]
    env = cli_env(ORCHESTRATOR_WORKFLOWS=json.dumps(WORKFLOWS))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator", *args, *database],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


# -- runs: every filter flag ----------------------------------------------------------------------


def test_runs_since_until_search_workflow_sort_and_offset(
    cli: Cli, orch: Orchestrator, wf_config: OrchestratorConfig
) -> None:
    base = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    rows = [
        # run_id, workflow, created (minutes after base), tasks_total, tags
        ("r0", "simulate", 0, 7, ["nightly"]),
        ("r1", "plan_execute", 60, 3, ["adhoc"]),
        ("r2", "simulate", 120, 1, ["nightly", "eu"]),
        ("r3", "simulate", 24 * 60, 9, ["adhoc"]),
        ("r4", "plan_execute", 48 * 60, 5, ["nightly"]),
    ]
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": workflow,
                "status": "succeeded",
                "created_at": base + dt.timedelta(minutes=minutes),
                "tasks_total": total,
                "input": {},
                "tags": tags,
            }
            for run_id, workflow, minutes, total, tags in rows
        ]
    )

    def listed(*flags: str) -> list[str]:
        # In this process (`runs` only reads): fourteen interpreter start-ups cost over a minute.
        result = call_cli("runs", "--json", *flags, *database_args(wf_config))
        assert result.code == 0, result.err
        return [r["run_id"] for r in json.loads(result.out)["runs"]]

    # --since is inclusive, --until exclusive (created at or after / created before); newest first
    assert listed("--since", "2026-01-05T13:00", "--until", "2026-01-06T12:00") == ["r2", "r1"]
    assert listed("--since", "2026-01-06") == ["r4", "r3"]
    assert listed("--until", "2026-01-05T13:00:00+00:00") == ["r0"]
    # a time zone is applied: 14:00+02:00 is 12:00 UTC
    assert listed("--since", "2026-01-05T14:00+02:00", "--until", "2026-01-05T13:00") == ["r0"]
    assert listed("--search", "nightly") == ["r4", "r2", "r0"]
    assert listed("--search", "r3") == ["r3"]
    assert listed("--workflow", "plan_execute") == ["r4", "r1"]
    assert listed("--workflow", "plan_execute", "--workflow", "simulate", "--search", "adhoc") == ["r3", "r1"]
    assert listed("--sort", "tasks_total") == ["r3", "r0", "r4", "r1", "r2"]
    assert listed("--sort", "tasks_total", "--asc") == ["r2", "r1", "r4", "r0", "r3"]
    assert listed("--sort", "tasks_total", "--limit", "2", "--offset", "1") == ["r0", "r4"]
    assert listed("--offset", "4") == ["r0"]
    assert listed("--offset", "5") == []

    bad = cli("runs", "--since", "yesterday")
    assert assert_one_error_line(bad) == (
        "error: --since must be an ISO date or time such as 2026-11-26 or 2026-11-26T14:00, "
        "between 1970-01-01 and 9999-12-31 (UTC)."
    )


# -- run without --wait ---------------------------------------------------------------------------


def test_run_without_wait_queues_the_run_and_prints_its_id(cli: Cli, orch: Orchestrator) -> None:
    result = cli("run", "simulate", "--input", '{"tasks": 2}', "--tag", "later")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    run_id = first.removeprefix("run_id: ")
    assert first == f"run_id: {run_id}"
    assert second == "queued; a worker or the dashboard's executor will run it"
    run = orch.get_run(run_id)
    assert (run["status"], run["workflow"], run["tags"]) == ("queued", "simulate", ["later"])
    assert run["input"] is not None and run["input"]["tasks"] == 2
    assert run["started_at"] is None and orch.store.get_tasks(run_id) == []


# -- resume -----------------------------------------------------------------------------------------


def test_resume_a_failed_run_with_wait(cli_process: Cli, orch: Orchestrator, tmp_path: Path) -> None:
    cli = cli_process
    # `flaky` (tests/engine_workflows.py): step 1 fails on its first execution only.
    marker, log_dir = tmp_path / "marker", tmp_path / "log"
    log_dir.mkdir()
    run_id = orch.launch(
        "flaky", {"marker": str(marker), "log_dir": str(log_dir), "tasks": 3, "fail_index": 1}
    )
    assert execute(orch, [run_id])[run_id]["status"] == "failed"

    result = cli("resume", run_id, "--wait")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines()[0] == "resume: queued"
    assert summary_of(result)["status"] == "succeeded"
    run = orch.get_run(run_id)
    assert run["status"] == "succeeded"
    # steps 0 and 2 finished the first time and ran once; step 1 ran twice (failed, then succeeded)
    runs_of = sorted(path.name.split("-")[0] for path in log_dir.iterdir())
    assert runs_of == ["0", "1", "1", "2"]

    again = cli("resume", run_id)
    assert_one_error_line(again, run_id, "succeeded")


# -- approve --value, reject --reason ---------------------------------------------------------------

APPROVAL = '{"goal": "Write the intro; write the body; write the end", "require_approval": true}'


def test_approve_with_a_value_runs_exactly_that_plan(cli: Cli, orch: Orchestrator) -> None:
    run_id = orch.launch("plan_execute", json.loads(APPROVAL))
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    (pending,) = orch.pending_interrupts(run_id)

    result = cli(
        "approve", run_id, "--value", '["step one", "step two"]', "--interrupt-id", pending["id"], "--wait"
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines()[0] == "approve: queued"
    run = orch.get_run(run_id)
    assert run["status"] == "succeeded", run["error"]
    assert run["state_snapshot"]["plan"] == ["step one", "step two"]
    assert sorted(r["task"] for r in run["state_snapshot"]["results"]) == ["step one", "step two"]
    assert sorted(t["node"] for t in orch.store.get_tasks(run_id)) == [
        "approve",
        "planner",
        "summarize",
        "worker",
        "worker",
    ]

    # answered already: one sentence saying by whom, when and what
    late = cli("approve", run_id)
    assert_one_error_line(
        late,
        f"Run {run_id} was already answered by cli:",
        ' UTC (approved with ["step one", "step two"]) and has already succeeded; to answer again, fork it',
    )


def test_reject_with_a_reason_cancels_the_run(cli: Cli, orch: Orchestrator) -> None:
    run_id = orch.launch("plan_execute", json.loads(APPROVAL))
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    result = cli("reject", run_id, "--reason", "plan too broad")
    assert (result.returncode, result.stdout.strip()) == (0, "reject: cancelled"), result.stderr
    run = orch.get_run(run_id)
    assert (run["status"], run["error"]) == ("cancelled", "Rejected: plan too broad")
    assert run["finished_at"] is not None
    assert not [t for t in orch.store.get_tasks(run_id) if t["node"] == "worker"]


# -- several interrupts, answered by id -------------------------------------------------------------


def test_answer_one_of_two_interrupts_by_id_then_the_other(cli: Cli, orch: Orchestrator) -> None:
    run_id = orch.launch("two_questions", {"topic": "Q3"})
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    pending = orch.pending_interrupts(run_id)
    questions = {p["value"]["question"]: p["id"] for p in pending}
    assert sorted(questions) == ["left: go on with Q3?", "right: go on with Q3?"]
    left, right = questions["left: go on with Q3?"], questions["right: go on with Q3?"]

    # without an id: which one? (one sentence naming both ids); an id that is not pending: refused
    ambiguous = cli("approve", run_id)
    assert_one_error_line(
        ambiguous,
        f"Run {run_id} waits on 2 interrupts; answer each by id ({', '.join(sorted([left, right]))}).",
    )
    wrong = cli("approve", run_id, "--interrupt-id", "not-an-interrupt")
    assert_one_error_line(wrong, f"Run {run_id} has no pending interrupt", "choose one of")
    assert orch.get_run(run_id)["status"] == "awaiting_input"

    # answer `left` only: the run goes on and waits again, on `right` alone
    first = cli("approve", run_id, "--interrupt-id", left, "--value", '"yes"', "--wait")
    assert first.returncode == 1, first.stdout  # not succeeded: waiting again
    assert "waiting for an answer" in first.stdout
    run = orch.get_run(run_id)
    assert run["status"] == "awaiting_input"
    assert [p["id"] for p in orch.pending_interrupts(run_id)] == [right]

    # then `right` (the only one left, so no id needed), approved as proposed (True)
    second = cli("approve", run_id, "--wait")
    assert second.returncode == 0, (second.stdout, second.stderr)
    run = orch.get_run(run_id)
    assert run["status"] == "succeeded", run["error"]
    assert sorted(run["state_snapshot"]["answers"]) == ['left="yes"', "right=true"]
    assert sorted(t["node"] for t in orch.store.get_tasks(run_id) if t["status"] == "succeeded") == [
        "left",
        "right",
    ]


# -- the package's sentences for a tag that is not text -------------------------------------------


def test_tags_that_are_not_text_are_refused(orch: Orchestrator) -> None:
    with pytest.raises(InputError, match=r"^Tags must be text\.$"):
        orch.launch("simulate", {"tasks": 1}, [3])  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"^Tags must be text\.$"):
        orch.launch("simulate", {"tasks": 1}, ["ok", None])  # type: ignore[list-item]
    assert orch.store.count_runs() == 0
