"""An answer is accepted exactly once, and only once it is checked (both backends).

Races: for each of TRIALS runs of `plan_execute` waiting for approval, three processes answer
at once through the CLI's `main` (`python -m orchestrator approve|reject …`): approve plan A,
approve plan B, reject. Each process imports the package once, then for every trial says it is
ready and waits for the trial's barrier file, so the three start their command within a
millisecond of each other. Exactly one exits 0; the other two exit 1 with one line naming the
winner's answer, and the run goes on with the winner's answer (the plan LangGraph executed, read
from the run's final state and its tasks), or is cancelled with the winner's reason.

Checks: a wrong answer (`{}`, `[1, 2]`, `false`, a 31-deep list, more steps than the run's
max_tasks, a NUL escaped in JSON) is refused at once by `approve` in one line, and the run keeps
waiting with no answer recorded; a question that declares its answer (LangGraph's
`response_schema`, a pydantic model or a JSON schema) refuses what does not fit it.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import AlreadyAnswered, InputError
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute
from tests.helpers import cli_env, wait_for, with_workflows
from tests.in_process_cli import Outcome, assert_one_error_line, call_cli, database_args

TRIALS = 10
WAITING = {"goal": "Collect logs; parse them; write the report", "require_approval": True, "max_tasks": 5}
PLAN_A = ["Plan A: collect logs"]
PLAN_B = ["Plan B: parse logs", "Plan B: report"]
REASON = "plan C: not now"
# Each racer's command, and how the losers' sentence names it when it won.
RACERS: dict[str, tuple[list[str], str]] = {
    "approve A": (["approve", "--value", json.dumps(PLAN_A)], f"(approved with {json.dumps(PLAN_A)})"),
    "approve B": (["approve", "--value", json.dumps(PLAN_B)], f"(approved with {json.dumps(PLAN_B)})"),
    "reject": (["reject", "--reason", REASON], f'(rejected: "{REASON}")'),
}
# A racer: one process per kind of answer, for every trial. It imports the package once (with
# what `approve` and `reject` import on their first call, so the first trial's racers start their
# commands as close together as the others'), then for each trial says it is ready, waits for the
# trial's barrier file and runs the real CLI's `main` on that trial's run (`run_ids.json`, written
# before the first barrier: the racers start while the runs are set up), its output and exit code
# in files.
RACER = """
import contextlib, gc, json, os, sys, time
from orchestrator.cli import main
import orchestrator.answers, orchestrator.workflows
folder, name, trials, argv = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
parent = os.getppid()
run_ids = None
for trial in range(trials):
    open(os.path.join(folder, f"ready-{name}-{trial}"), "w").close()
    while not os.path.exists(os.path.join(folder, f"go-{trial}")):
        if os.getppid() != parent:
            sys.exit("the test is gone")  # never spin on for a test that was killed
        time.sleep(0.0005)
    if run_ids is None:
        with open(os.path.join(folder, "run_ids.json")) as f:
            run_ids = json.load(f)
    run_id = run_ids[trial]
    out, err = (open(os.path.join(folder, f"{kind}-{name}-{trial}"), "w") for kind in ("out", "err"))
    with out, err, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([argv[0], run_id, *argv[1:]])
    # the code file appears whole (a rename), never empty while its write is still buffered
    done = os.path.join(folder, f"code-{name}-{trial}")
    with open(done + ".part", "w") as f:
        f.write(str(code))
    os.replace(done + ".part", done)
    gc.collect()  # the command's engine and its connections
"""

WORKFLOWS = {"typed": "tests.interrupt_workflows:build_typed_questions"}


@pytest.fixture
def orch(config: OrchestratorConfig) -> Iterator[Orchestrator]:
    orch = Orchestrator(with_workflows(config, WORKFLOWS))
    yield orch
    orch.engine.dispose()


class Racers:
    """The three racer processes (see RACER) over `trials` runs (`give`n later), one trial at a time."""

    def __init__(self, folder: Path, config: OrchestratorConfig, trials: int):
        self.folder = folder
        self.names = [name.replace(" ", "_") for name in RACERS]
        database = database_args(config)
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(folder), name, str(trials), *command, *database],
                cwd=folder,
                env=cli_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name, (command, _) in zip(self.names, RACERS.values(), strict=True)
        ]

    def _all(self, kind: str, trial: int) -> bool:
        for proc in self.procs:
            assert proc.poll() is None or kind == "code", proc.communicate()[0]
        return all((self.folder / f"{kind}-{name}-{trial}").exists() for name in self.names)

    def give(self, run_ids: list[str]) -> None:
        """The runs of the trials, in order (read by the racers at the first barrier)."""
        (self.folder / "run_ids.json").write_text(json.dumps(run_ids))

    def race(self, trial: int) -> dict[str, Outcome]:
        """Release the racers of `trial` together; their exit codes and output."""
        assert (self.folder / "run_ids.json").exists()
        wait_for(lambda: self._all("ready", trial), timeout=180, interval=0.01, what="the racers to be ready")
        (self.folder / f"go-{trial}").touch()
        wait_for(lambda: self._all("code", trial), timeout=180, interval=0.01, what="the racers to finish")
        return {
            racer: Outcome(
                int((self.folder / f"code-{name}-{trial}").read_text()),
                (self.folder / f"out-{name}-{trial}").read_text(),
                (self.folder / f"err-{name}-{trial}").read_text(),
            )
            for racer, name in zip(RACERS, self.names, strict=True)
        }

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def test_concurrent_answers_exactly_one_wins_and_the_run_goes_on_with_it(
    orch: Orchestrator, config: OrchestratorConfig, backend: str, tmp_path: Path
) -> None:
    racers = Racers(tmp_path, config, TRIALS)
    try:
        run_ids = orch.launch_copies("plan_execute", WAITING, copies=TRIALS)
        assert {r["status"] for r in execute(orch, run_ids).values()} == {"awaiting_input"}
        racers.give(run_ids)
        outcomes_of = [racers.race(trial) for trial in range(TRIALS)]
    finally:
        racers.close()
    winners: dict[str, str] = {}
    for run_id, outcomes in zip(run_ids, outcomes_of, strict=True):
        won = [name for name, outcome in outcomes.items() if outcome.code == 0]
        assert len(won) == 1, outcomes
        winner = winners[run_id] = won[0]
        expected_out = "reject: cancelled" if winner == "reject" else "approve: queued"
        assert outcomes[winner].out.strip() == expected_out, outcomes[winner]
        for name, outcome in outcomes.items():
            if name != winner:
                line = assert_one_error_line(
                    outcome,
                    f"error: Run {run_id} was already answered by cli:",
                    f" UTC {RACERS[winner][1]}",
                )
                assert line.endswith(
                    "; your answer was not sent."
                    if winner != "reject"
                    else "and was cancelled; to answer again, fork it from the checkpoint before the question."
                ), line
        (answer,) = orch.store.get_answers(run_id)
        assert answer["kind"] == winner.split()[0] and answer["answered_by"].startswith("cli:")

    approved = [run_id for run_id, winner in winners.items() if winner != "reject"]
    finished = execute(orch, approved) if approved else {}
    for run_id, winner in winners.items():
        tasks = orch.store.get_tasks(run_id)
        workers = sorted(t["node"] for t in tasks if t["node"] == "worker")
        if winner == "reject":
            run = orch.get_run(run_id)
            assert (run["status"], run["error"]) == ("cancelled", f"Rejected: {REASON}")
            assert workers == []
            continue
        plan = PLAN_A if winner == "approve A" else PLAN_B
        run = finished[run_id]
        assert run["status"] == "succeeded", run["error"]
        # What LangGraph executed: the winner's plan, one worker task per step, nothing else.
        assert run["state_snapshot"]["plan"] == plan
        assert sorted(r["task"] for r in run["state_snapshot"]["results"]) == sorted(plan)
        assert len(workers) == len(plan)
    print(
        f"\nanswer races on {backend}: {TRIALS} trials, 3 racers each; winners {dict(Counter(winners.values()))}"
    )


# -- checked before accepted --------------------------------------------------------------------------


def nested_list(depth: int) -> Any:
    value: Any = "step"
    for _ in range(depth):
        value = [value]
    return value


WRONG_PLANS = {
    "an empty object": ("{}", "list of task strings"),
    "numbers": ("[1, 2]", "list of task strings"),
    "false": ("false", "list of task strings"),
    "a 31-deep list": (json.dumps(nested_list(31)), "list of task strings"),
    "6 steps": (json.dumps([f"step {n}" for n in range(6)]), "6 steps and this run takes at most 5"),
    "10,000 steps": (
        json.dumps([f"s{n}" for n in range(10_000)]),
        "10,000 steps and this run takes at most 5",
    ),
    "10,000 lines": (json.dumps("\n".join(f"s{n}" for n in range(10_000))), "10,000 steps"),
    "an escaped NUL": ('["a\\u0000b"]', "NUL character"),
    "a NUL in a key": ('{"plan": ["a"], "x\\u0000": 1}', "NUL character"),
}


def test_a_wrong_answer_is_refused_at_once_and_the_run_keeps_waiting(
    orch: Orchestrator, config: OrchestratorConfig
) -> None:
    (run_id,) = orch.launch_copies("plan_execute", WAITING)
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    for name, (value, phrase) in WRONG_PLANS.items():
        outcome = call_cli("approve", run_id, "--value", value, *database_args(config))
        assert_one_error_line(outcome, phrase)
        run = orch.get_run(run_id)
        assert (run["status"], run["resume_value"]) == ("awaiting_input", None), name
        assert orch.store.get_answers(run_id) == [], name
    # A reason or a response with a NUL: refused in words, on both backends.
    for call in (
        lambda: orch.reject(run_id, "no\x00"),
        lambda: orch.approve(run_id, {"plan": ["a\x00"]}),
        lambda: orch.approve(run_id, ["a"], answered_by="ana\nbo"),
    ):
        with pytest.raises(InputError) as info:
            call()
        assert "\n" not in str(info.value)
    assert orch.get_run(run_id)["status"] == "awaiting_input"
    # The right answer still works: five steps, the run's max_tasks.
    five = [f"step {n}" for n in range(5)]
    assert call_cli("approve", run_id, "--value", json.dumps(five), *database_args(config)).code == 0
    run = execute(orch, [run_id])[run_id]
    assert (run["status"], run["state_snapshot"]["plan"]) == ("succeeded", five)
    assert len([t for t in orch.store.get_tasks(run_id) if t["node"] == "worker"]) == 5


def test_a_question_that_declares_its_answer_refuses_what_does_not_fit(orch: Orchestrator) -> None:
    run_id = orch.launch("typed", {})
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    for wrong, phrase in (
        ({"ship": "maybe"}, "ship must be true or false"),
        ({"note": "x"}, "ship is required"),
        ([1], "answer must be an object"),
        (None, "answer must be an object"),  # approve as proposed sends true: not a ShipAnswer
    ):
        with pytest.raises(InputError, match=phrase):
            orch.approve(run_id, wrong)
    assert orch.get_run(run_id)["status"] == "awaiting_input"
    assert orch.approve(run_id, {"ship": True, "note": "go"}, answered_by="ana") == "queued"
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"  # the next question
    for wrong, phrase in ((0, "minimum of 1"), ("3", "must be a whole number"), (11, "maximum of 10")):
        with pytest.raises(InputError, match=phrase):
            orch.approve(run_id, wrong)
    assert orch.approve(run_id, 3, answered_by="bo") == "queued"
    run = execute(orch, [run_id])[run_id]
    assert run["status"] == "succeeded", run["error"]
    assert (run["state_snapshot"]["shipped"], run["state_snapshot"]["copies"]) == (
        {"ship": True, "note": "go"},
        3,
    )
    assert [(a["answered_by"], a["answer"]) for a in reversed(orch.store.get_answers(run_id))] == [
        ("ana", {"ship": True, "note": "go"}),
        ("bo", 3),
    ]


def test_a_later_answer_is_refused_with_who_when_and_what(orch: Orchestrator) -> None:
    (run_id,) = orch.launch_copies("plan_execute", WAITING)
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    (pending,) = orch.pending_interrupts(run_id)
    before = time.time()
    assert orch.approve(run_id, ["first"], answered_by="cli:ana@host") == "queued"
    for late in (
        lambda: orch.approve(run_id, ["second"], answered_by="cli:bo@host"),
        lambda: orch.approve(run_id, ["second"], interrupt_id=pending["id"]),
        lambda: orch.reject(run_id, "no"),
        lambda: orch.respond(run_id, "accept"),
    ):
        with pytest.raises(AlreadyAnswered) as info:
            late()
        message = str(info.value)
        assert message.startswith(f"Run {run_id} was already answered by cli:ana@host at ")
        assert message.endswith(' UTC (approved with ["first"]); your answer was not sent.')
    (answer,) = orch.store.get_answers(run_id)
    assert answer["answered_at"].timestamp() >= before - 1
    assert orch.get_run(run_id)["resume_value"] == {"resume": {pending["id"]: ["first"]}}


def test_an_answer_is_keyed_by_its_interrupt_and_written_with_the_runs_move(orch: Orchestrator) -> None:
    """The conditional write itself (RunStore.record_answers), as a racer that read the run before
    another's answer would call it: the run's status and the interrupt's key both guard it."""
    store = orch.store
    run_id = store.create_run("plan_execute", {}, status="awaiting_input")

    def answer(interrupt_id: str, by: str) -> bool:
        row = {"interrupt_id": interrupt_id, "kind": "approve", "answer": [by], "answered_by": by}
        return store.record_answers(
            run_id,
            [{**row, "answered_at": dt.datetime.now(dt.UTC)}],
            expected=["awaiting_input"],
            status="queued",
            resume_value={"resume": {interrupt_id: [by]}},
        )

    assert answer("i1", "ana") is True
    assert answer("i1", "bo") is False  # the run is queued now
    # Waiting again (as after a resume): the same interrupt still takes no second answer ...
    assert store.update_run(run_id, status="awaiting_input")
    assert answer("i1", "bo") is False
    run = store.get_run(run_id)
    assert (run["status"], run["resume_value"]) == ("awaiting_input", {"resume": {"i1": ["ana"]}})
    # ... and another interrupt takes its own.
    assert answer("i2", "bo") is True
    assert [(a["interrupt_id"], a["answered_by"]) for a in store.get_answers(run_id)] == [
        ("i2", "bo"),
        ("i1", "ana"),
    ]
    assert store.delete_run(run_id) and store.get_answers(run_id) == []  # deleted with the run
