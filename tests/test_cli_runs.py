"""`python -m orchestrator run | runs | show | cancel | rerun | delete` on both backends: `run --wait`
as a real process; the other commands called in this process (`cli_here`), which answers as the
process does without an interpreter start-up per call (about a second each)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from orchestrator.runs import RunStore
from tests.helpers import cli_env
from tests.in_process_cli import call_cli, database_args

SUMMARY = re.compile(
    r"^(?P<run_id>\w+) (?P<workflow>\w+) (?P<status>\w+) "
    r"tasks (?P<completed>\d+)/(?P<total>\d+) completed, (?P<failed>\d+) failed$"
)


@pytest.fixture
def cli(config: OrchestratorConfig, tmp_path: Path):
    """Run `python -m orchestrator <args> <the test's database flags>` in tmp_path."""
    if config.checkpoint_mode == "sqlite":
        database = ["--mode", "sqlite", "--sqlite-path", str(config.sqlite_path)]
    else:
        database = ["--mode", "postgres", "--postgres-uri", str(config.postgres_uri)]

    def start(args: tuple[str, ...]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestrator", *args, *database],
            cwd=tmp_path,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            raise AssertionError(f"{proc.args} timed out\n{stdout}\n{stderr}") from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    def run(*args: str) -> subprocess.CompletedProcess:
        return finish(start(args))

    def many(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
        """Independent commands at the same time (each process spends most of a second importing)."""
        return [finish(proc) for proc in [start(args) for args in commands]]

    run.many = many  # type: ignore[attr-defined]
    return run


@pytest.fixture
def cli_here(config: OrchestratorConfig, clean_env: pytest.MonkeyPatch):
    """As `cli`, with `cli.main` called in this process (tests/in_process_cli.py), in tmp_path
    with no ORCHESTRATOR_* variable (conftest's `clean_env`); `many` calls one after the other."""

    def run(*args: str) -> subprocess.CompletedProcess:
        outcome = call_cli(*args, *database_args(config))
        return subprocess.CompletedProcess(["orchestrator", *args], outcome.code, outcome.out, outcome.err)

    def many(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
        return [run(*args) for args in commands]

    run.many = many  # type: ignore[attr-defined]
    return run


def run_id_of(result: subprocess.CompletedProcess) -> str:
    ids = [
        line.removeprefix("run_id: ") for line in result.stdout.splitlines() if line.startswith("run_id: ")
    ]
    assert len(ids) == 1, result.stdout
    return ids[0]


def summary_of(result: subprocess.CompletedProcess) -> dict[str, str]:
    found = [m.groupdict() for line in result.stdout.splitlines() if (m := SUMMARY.match(line))]
    assert len(found) == 1, result.stdout
    return found[0]


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_run_wait_executes_and_reports(cli, store: RunStore) -> None:
    # Both at once: the test's database is set up already (conftest), LangGraph's tables too, and
    # each `run --wait` claims only its own run.
    ok, failing = cli.many(
        ("run", "simulate", "--input", '{"tasks": 20, "fail_rate": 0}', "--tag", "cli", "--wait"),
        ("run", "simulate", "--input", '{"tasks": 3, "delay_ms": 10, "fail_rate": 1}', "--wait"),
    )
    assert ok.returncode == 0, ok.stderr
    run_id = run_id_of(ok)
    assert summary_of(ok) == {
        "run_id": run_id,
        "workflow": "simulate",
        "status": "succeeded",
        "completed": "22",
        "total": "22",
        "failed": "0",
    }
    assert "Traceback" not in ok.stderr
    run = store.get_run(run_id)
    assert run["status"] == "succeeded"
    assert (run["tasks_total"], run["tasks_completed"], run["tasks_failed"]) == (22, 22, 0)
    assert run["tags"] == ["cli"]
    assert run["state_snapshot"]["summary"]["count"] == 20
    assert len(store.get_tasks(run_id)) == 22

    # A failing run: exit 1, the summary on stdout, the error's first line (only) on stderr.
    assert failing.returncode == 1, failing.stdout
    failed_id = run_id_of(failing)
    summary = summary_of(failing)
    assert summary["run_id"] == failed_id and summary["status"] == "failed" and int(summary["failed"]) >= 1
    assert re.fullmatch(r"RuntimeError: simulated failure in task \d\n", failing.stderr), failing.stderr
    run = store.get_run(failed_id)
    assert run["status"] == "failed"
    assert "Traceback (most recent call last)" in run["error"]


def test_runs_lists_what_the_filters_select(cli_here, store: RunStore) -> None:
    cli = cli_here
    base = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    made: dict[str, str] = {}
    for minute, (name, status, total) in enumerate(
        [
            ("failed5", "failed", 5),
            ("failed2", "failed", 2),
            ("failed1", "failed", 1),
            ("succeeded9", "succeeded", 9),
            ("queued0", "queued", 0),
        ]
    ):
        run_id = store.create_run(
            "simulate", {"tasks": total}, [name], created_at=base + dt.timedelta(minutes=minute)
        )
        store.update_run(
            run_id, status=status, tasks_total=total, tasks_completed=max(total - 1, 0), tasks_failed=1
        )
        made[name] = run_id

    result, table = cli.many(
        ("runs", "--status", "failed", "--min-tasks", "2", "--json"),
        ("runs", "--status", "failed", "--status", "succeeded", "--max-tasks", "5", "--asc"),
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed["total"] == 2
    assert [r["run_id"] for r in listed["runs"]] == [made["failed2"], made["failed5"]]  # newest first
    assert {r["status"] for r in listed["runs"]} == {"failed"}
    assert [r["tasks_total"] for r in listed["runs"]] == [2, 5]

    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[-1] == "3 of 3 matching runs"
    assert [line.split()[0] for line in lines[1:-1]] == [made["failed5"], made["failed2"], made["failed1"]]


def finished_run(config: OrchestratorConfig, store: RunStore) -> str:
    """A succeeded simulate run, executed in-process the way `run --wait` does it."""
    orch = Orchestrator(config, engine=store.engine)
    run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 10}, ["x"])
    executor = Executor(config, engine=store.engine, concurrency=1)
    [row] = executor.store.claim_queued(executor.worker, 1, run_id=run_id)
    asyncio.run(executor.execute_claimed(row))
    assert store.get_run(run_id)["status"] == "succeeded"
    return run_id


def test_show_cancel_rerun_delete(cli_here, config: OrchestratorConfig, store: RunStore) -> None:
    cli = cli_here
    done = finished_run(config, store)

    shown, rerun_result, refused = cli.many(("show", done), ("rerun", done), ("cancel", done))
    assert shown.returncode == 0, shown.stderr
    shown = json.loads(shown.stdout)
    assert shown["run_id"] == done and shown["status"] == "succeeded"
    assert shown["input"] == {"tasks": 2, "fail_rate": 0.0, "delay_ms": 10, "seed": 0, "fan_out": 4}
    assert shown["tags"] == ["x"]
    assert shown["state_snapshot"]["summary"]["count"] == 2
    assert sorted(t["node"] for t in shown["tasks"]) == ["plan", "summarize", "work", "work"]

    assert rerun_result.returncode == 0, rerun_result.stderr
    again = rerun_result.stdout.strip().removeprefix("rerun: ")
    assert rerun_result.stdout.strip() == f"rerun: {again}" and again != done
    rerun = store.get_run(again)
    assert rerun["status"] == "queued" and rerun["rerun_of"] == done
    assert (rerun["workflow"], rerun["input"], rerun["tags"]) == ("simulate", shown["input"], ["x"])

    assert_one_error_line(refused, done, "succeeded")  # a finished run cannot be cancelled
    assert store.get_run(done)["status"] == "succeeded"

    cancelled, deleted = cli.many(("cancel", again), ("delete", done))
    assert (cancelled.returncode, cancelled.stdout.strip()) == (0, "cancel: cancelled"), cancelled.stderr
    assert store.get_run(again)["status"] == "cancelled"
    assert (deleted.returncode, deleted.stdout.strip()) == (0, "delete: deleted"), deleted.stderr
    assert store.get_run(done) is None and store.get_tasks(done) == []

    deleted, missing = cli.many(("delete", done), ("show", done))
    assert (deleted.returncode, deleted.stdout.strip()) == (0, "delete: nothing to delete"), deleted.stderr
    assert_one_error_line(missing, "No run has the id")
    assert store.get_run(again)["status"] == "cancelled"


def test_bad_input_prints_one_error_line(cli_here, store: RunStore) -> None:
    cli = cli_here
    bad_json, invalid, unknown = cli.many(
        ("run", "simulate", "--input", "{tasks: 5}"),
        ("run", "simulate", "--input", '{"tasks": 0}', "--wait"),
        ("run", "nope", "--input", "{}"),
    )
    assert assert_one_error_line(bad_json, "is not valid JSON").startswith("error: --input")
    assert_one_error_line(invalid, "Invalid input for workflow 'simulate'", "tasks must be at least 1")
    assert_one_error_line(unknown, "Unknown workflow 'nope'")
    for result in (bad_json, invalid, unknown):
        assert result.stdout == ""
    assert store.count_runs() == 0
