"""What a run's tasks log and the model calls they make, kept with the run (orchestrator.observe),
on both backends: a real run executed here, its lines per task with their levels, the cap's cut,
the counts on the run's row, the model calls' tokens and cost, and what deleting the run and
losing the claim do."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _pytest.logging import LogCaptureHandler
from sqlalchemy import func, select

from orchestrator.claims import Claim, ClaimLost, ClaimStore
from orchestrator.config import OrchestratorConfig
from orchestrator.db import run_logs, run_model_calls, run_task_io
from orchestrator.errors import ConfigError, InputError
from orchestrator.executor import Executor
from orchestrator.observe import capture
from orchestrator.observe.capture import CUT_LOGGER, Pending, RunObservations
from orchestrator.observe.conversation import conversation
from orchestrator.observe.model_calls import ModelCallRecorder, call_cost
from orchestrator.observe.reads import level_number
from orchestrator.observe.redact import Redactor
from orchestrator.operations import Orchestrator
from orchestrator.status import RunStatus
from tests.helpers import with_workflows
from tests.in_process_cli import assert_one_error_line, call_cli, database_args
from tests.observe_workflows import SECRET, UsageReportingTestChatModel

WORKFLOWS = {"chatty": "tests.observe_workflows:build_chatty"}
PRICES = {"test-usage-model": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}


@pytest.fixture
def make_orch(config: OrchestratorConfig):
    made: list[Orchestrator] = []

    def make(**settings: Any) -> Orchestrator:
        orch = Orchestrator(with_workflows(config, WORKFLOWS, **settings))
        made.append(orch)
        return orch

    yield make
    for orch in made:
        orch.engine.dispose()


def run_here(orch: Orchestrator, **input: Any) -> str:
    """Launch a `chatty` run and execute it in this process, to its end."""
    run_id = orch.launch("chatty", input)
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, concurrency=1)
    (row,) = executor.store.claim_queued(executor.worker, 1, run_id=run_id)
    asyncio.run(executor.execute_claimed(row))
    assert orch.get_run(run_id)["status"] == RunStatus.SUCCEEDED
    return run_id


def task_ids(orch: Orchestrator, run_id: str, node: str) -> list[str]:
    return [t["task_id"] for t in orch.store.get_tasks(run_id) if t["node"] == node]


def stored(orch: Orchestrator, table: Any, run_id: str) -> int:
    with orch.engine.connect() as conn:
        return conn.execute(select(func.count()).where(table.c.run_id == run_id)).scalar_one()


def test_a_runs_logs_are_kept_per_task_with_their_levels(make_orch) -> None:
    orch = make_orch()
    run_id = run_here(orch, tasks=3, lines=4, fail=True, calls=0)
    logs = orch.observations.logs(run_id)
    work = task_ids(orch, run_id, "work")
    (plan,) = task_ids(orch, run_id, "plan")
    assert len(work) == 3
    # Each work task: its 4 INFO lines, a WARNING and an ERROR, in the order it logged them.
    for task_id in work:
        mine = orch.observations.logs(run_id, task_id=task_id)
        assert [line["level"] for line in mine] == [logging.INFO] * 4 + [logging.WARNING, logging.ERROR]
        index = mine[0]["message"].split()[1]
        assert [line["message"] for line in mine] == [f"task {index} line {n}" for n in range(4)] + [
            f"task {index} is slow",
            f"task {index} went wrong",
        ]
        assert {(line["node"], line["attempt"], line["logger"]) for line in mine} == {
            (
                "work",
                1,
                "team.chatty",
            )
        }
        assert all(isinstance(line["at"], dt.datetime) and line["at"].tzinfo for line in mine)
    assert [line["message"] for line in orch.observations.logs(run_id, task_id=plan)] == ["planning 3 tasks"]
    # Only what the tasks logged: not the executor's own lines around them.
    assert len(logs) == 3 * 6 + 1
    assert {line["task_id"] for line in logs} == {*work, plan}
    # Filtered by level, searched (any case), read from a line on.
    assert len(orch.observations.logs(run_id, min_level=logging.WARNING)) == 6
    assert len(orch.observations.logs(run_id, min_level=logging.ERROR)) == 3
    assert len(orch.observations.logs(run_id, text="LINE 2")) == 3
    assert orch.observations.logs(run_id, text="100%_") == []
    assert orch.observations.logs(run_id, after_id=logs[-2]["id"]) == logs[-1:]
    assert orch.observations.log_counts(run_id) == {plan: 1, **dict.fromkeys(work, 6)}
    run = orch.get_run(run_id)
    assert (run["warnings"], run["errors"]) == (3, 3)


@contextlib.contextmanager
def out_of_pytests_capture(text: str) -> Iterator[None]:
    """pytest's own capture of the test's log lines leaves out those with `text`: pytest-xdist
    cannot send a report that holds a lone surrogate to the controller (a UnicodeEncodeError that
    stops the whole run). The package's handler still sees them."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, LogCaptureHandler)]
    assert handlers, "pytest's log capture is on"

    def kept(record: logging.LogRecord) -> bool:
        return text not in str(record.msg)

    for handler in handlers:
        handler.addFilter(kept)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(kept)


def test_text_a_database_cannot_hold_is_kept_escaped_with_the_rest(make_orch) -> None:
    # PostgreSQL's text holds no NUL and only valid UTF-8: such a line was refused with its batch.
    orch = make_orch()
    with out_of_pytests_capture("odd text"):
        run_id = run_here(orch, tasks=2, lines=1, calls=0, odd=True)
    (plan,) = task_ids(orch, run_id, "plan")
    assert [line["message"] for line in orch.observations.logs(run_id, task_id=plan)] == [
        "planning 2 tasks",
        "odd text a\\x00b \\ud800 c",
    ]
    assert len(orch.observations.logs(run_id)) == 2 + 2 * 2


def test_the_cap_per_task_marks_its_cut(make_orch) -> None:
    orch = make_orch(log_lines_per_task=3)
    run_id = run_here(orch, tasks=2, lines=10, calls=0)
    for task_id in task_ids(orch, run_id, "work"):
        mine = orch.observations.logs(run_id, task_id=task_id)
        assert [line["message"].split()[-1] for line in mine[:3]] == ["0", "1", "2"]
        assert len(mine) == 4
        assert mine[3]["logger"] == CUT_LOGGER
        # 10 INFO lines and a WARNING: 3 kept, 8 dropped.
        assert mine[3]["message"].startswith("8 more log lines of this task were dropped: a task keeps 3")
    # The dropped WARNINGs still count.
    assert orch.get_run(run_id)["warnings"] == 2


def test_the_level_setting_keeps_what_is_at_or_above_it(make_orch) -> None:
    orch = make_orch(log_level="WARNING")
    run_id = run_here(orch, tasks=2, lines=3, calls=0)
    logs = orch.observations.logs(run_id)
    assert sorted(line["message"] for line in logs) == ["task 0 is slow", "task 1 is slow"]
    assert {line["level"] for line in logs} == {logging.WARNING}
    off = make_orch(log_level="off")
    quiet = run_here(off, tasks=2, lines=3, calls=0)
    assert off.observations.logs(quiet) == [] and off.get_run(quiet)["warnings"] == 0


def test_model_calls_are_recorded_with_tokens_and_cost(make_orch) -> None:
    orch = make_orch(model_prices=PRICES)
    run_id = run_here(orch, tasks=1, lines=0, calls=2)
    (ask,) = task_ids(orch, run_id, "ask")
    calls = orch.observations.model_calls(run_id)
    assert len(calls) == 2
    # The test model reports 1200 input tokens (200 of them cached) and 300 output tokens:
    # 1000 x $2.5 + 200 x $1.25 + 300 x $10 per million = $0.00575 a call.
    for call in calls:
        assert (call["task_id"], call["node"], call["model"], call["attempt"]) == (
            ask,
            "ask",
            "test-usage-model",
            1,
        )
        assert (call["input_tokens"], call["output_tokens"], call["cached_tokens"]) == (1200, 300, 200)
        assert call["cost_usd"] == pytest.approx(0.00575, abs=1e-12)
        assert call["error"] is None and call["latency_seconds"] >= 0
    run = orch.get_run(run_id)
    assert (run["model_calls"], run["input_tokens"], run["output_tokens"]) == (2, 2400, 600)
    assert run["cost_usd"] == pytest.approx(0.0115, abs=1e-12)
    (by_node,) = orch.observations.model_calls_by_node(run_id)
    assert (by_node["node"], by_node["calls"], by_node["input_tokens"]) == ("ask", 2, 2400)


def test_a_model_without_a_price_costs_nothing_known(make_orch) -> None:
    orch = make_orch()
    run_id = run_here(orch, tasks=1, lines=0, calls=1)
    (call,) = orch.observations.model_calls(run_id)
    assert call["cost_usd"] is None and call["input_tokens"] == 1200
    assert orch.get_run(run_id)["cost_usd"] == 0


def test_deleting_a_run_deletes_its_logs_and_model_calls(make_orch) -> None:
    orch = make_orch()
    kept = run_here(orch, tasks=1, lines=2, calls=1)
    gone = run_here(orch, tasks=1, lines=2, calls=1)
    assert stored(orch, run_logs, gone) == 4 and stored(orch, run_model_calls, gone) == 1
    assert orch.delete(gone)
    assert stored(orch, run_logs, gone) == 0 and stored(orch, run_model_calls, gone) == 0
    assert stored(orch, run_logs, kept) == 4 and stored(orch, run_model_calls, kept) == 1


def test_an_executor_without_the_claim_stores_no_logs(make_orch) -> None:
    orch = make_orch()
    run_id = orch.launch("chatty", {})
    claims = ClaimStore(orch.engine)
    (row,) = claims.claim_queued("w1", 1, run_id=run_id)
    line = ("t1", "work", time.time(), logging.ERROR, "team", "from the lost executor")
    stale = claims.fenced(Claim(run_id, row["attempt"] - 1))
    with pytest.raises(ClaimLost):
        stale.record_task_events([], Pending(logs=[line], errors=1))
    assert stored(orch, run_logs, run_id) == 0 and orch.get_run(run_id)["errors"] == 0
    claims.fenced(Claim(run_id, row["attempt"])).record_task_events([], Pending(logs=[line], errors=1))
    assert stored(orch, run_logs, run_id) == 1 and orch.get_run(run_id)["errors"] == 1


def test_bad_settings_and_levels_are_one_sentence() -> None:
    with pytest.raises(ConfigError, match="log_level must be one of"):
        OrchestratorConfig(env_file=None, log_level="LOUD")
    with pytest.raises(ConfigError, match="log_lines_per_task must be a whole number"):
        OrchestratorConfig(env_file=None, log_lines_per_task=-1)
    with pytest.raises(ConfigError, match='must give "input" and "output"'):
        OrchestratorConfig(env_file=None, model_prices={"m": {"input": 1}})
    with pytest.raises(InputError, match="level must be one of"):
        level_number("LOUD")
    assert level_number("warning") == logging.WARNING


def test_the_cli_prints_a_runs_logs_and_model_usage(make_orch) -> None:
    orch = make_orch(model_prices=PRICES)
    run_id = run_here(orch, tasks=2, lines=1, fail=True, calls=1)
    db = database_args(orch.config)
    everything = call_cli("logs", run_id, *db)
    assert everything.code == 0, everything
    lines = everything.out.strip().splitlines()
    assert len(lines) == 1 + 2 * 3  # plan's line; each work task's INFO, WARNING and ERROR
    assert any(" ERROR    work[" in line and "team.chatty: task 0 went wrong" in line for line in lines)
    errors = call_cli("logs", run_id, "--level", "error", *db)
    assert sorted(line.rsplit(": ", 1)[1] for line in errors.out.strip().splitlines()) == [
        "task 0 went wrong",
        "task 1 went wrong",
    ]
    (plan,) = task_ids(orch, run_id, "plan")
    one = call_cli("logs", run_id, "--task", plan[:8], "--json", *db)
    assert [json.loads(line)["message"] for line in one.out.strip().splitlines()] == ["planning 2 tasks"]
    searched = call_cli("logs", run_id, "--search", "SLOW", "--follow", *db)  # a run at rest: no waiting
    assert searched.code == 0 and len(searched.out.strip().splitlines()) == 2
    assert_one_error_line(call_cli("logs", run_id, "--level", "LOUD", *db), "--level must be one of")
    assert_one_error_line(call_cli("logs", run_id, "--task", "zzzz", *db), "has no task whose id starts with")
    assert_one_error_line(call_cli("logs", "no-such-run", *db), "No run has the id")
    shown = call_cli("show", run_id, *db)
    assert shown.code == 0, shown
    run = json.loads(shown.out)
    assert (
        run["model_calls"],
        run["input_tokens"],
        run["output_tokens"],
        run["warnings"],
        run["errors"],
    ) == (
        1,
        1200,
        300,
        2,
        2,
    )
    (usage,) = run["model_usage"]
    assert (usage["node"], usage["model"], usage["calls"]) == ("ask", "test-usage-model", 1)
    assert usage["cost_usd"] == pytest.approx(0.00575, abs=1e-12)


def test_catching_lowers_the_root_level_without_changing_the_console() -> None:
    """The console shows exactly what it showed before: a team's INFO (under a WARNING root)
    stays hidden, and the INFO of a logger with its own level (the CLI sets `orchestrator` to
    INFO: a worker's "Waiting up to 10 s ..." line) still shows."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    own = logging.getLogger("orchestrator.test_console")
    shown: list[str] = []

    class Console(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            shown.append(record.getMessage())

    console = Console()
    try:
        root.setLevel(logging.WARNING)
        root.addHandler(console)
        own.setLevel(logging.INFO)
        capture.install(logging.INFO)
        assert root.level == logging.INFO
        logging.getLogger("team.node").info("team info")
        logging.getLogger("team.node").warning("team warning")
        logging.getLogger("orchestrator.test_console.child").info("own info")
        own.debug("own debug")
        assert shown == ["team warning", "own info"]
        assert sum(isinstance(h, capture.TaskLogHandler) for h in root.handlers) == 1
        capture.install(logging.INFO)  # again: one handler, one filter
        assert sum(isinstance(h, capture.TaskLogHandler) for h in root.handlers) == 1
        assert len(console.filters) == 1
    finally:
        own.setLevel(logging.NOTSET)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_a_states_messages_read_as_a_conversation(make_orch) -> None:
    orch = make_orch()
    run_id = run_here(orch, tasks=1, lines=0, calls=2)
    turns = conversation(orch.get_run(run_id)["state_snapshot"])
    assert turns is not None
    assert [(t.role, t.content) for t in turns] == [
        ("human", "How did the work go?"),
        ("ai", "answer 0"),
        ("tool", "3 tasks done"),
        ("ai", "answer 1"),
    ]
    assert turns[1].tool_calls == [{"name": "lookup", "args": {"q": "work"}, "id": "call_1"}]
    assert (turns[2].name, turns[2].tool_call_id) == ("lookup", "call_1")
    assert turns[3].tool_calls == []
    # The other forms add_messages takes; a state without messages has no conversation.
    plain = conversation(
        {"messages": [("user", "hi"), {"role": "assistant", "content": [{"type": "text", "text": "hello"}]}]}
    )
    assert [(t.role, t.content) for t in plain or []] == [("human", "hi"), ("ai", "hello")]
    assert conversation({"messages": []}) is None and conversation({"done": [1]}) is None


def test_a_tasks_input_and_output_are_kept_without_secrets(make_orch) -> None:
    orch = make_orch()
    run_id = run_here(orch, tasks=2, lines=0, calls=0)
    for task in orch.store.get_tasks(run_id):
        (io,) = orch.observations.task_io(run_id, task["task_id"])
        assert io["attempt"] == 1
        if task["node"] == "work":
            index = io["input"]["index"]
            assert io["input"] == {
                "index": index,
                "lines": 0,
                "fail": False,
                "api_key": "***",
                "max_tokens": 5,
            }
            assert io["output"] == {"done": [index]}
    with orch.engine.connect() as conn:
        texts = [json.dumps([row.input, row.output]) for row in conn.execute(select(run_task_io))]
    assert len(texts) == 4 and not any(SECRET in text for text in texts)  # plan, 2 x work, ask
    assert orch.delete(run_id)
    assert stored(orch, run_task_io, run_id) == 0


def test_secret_named_keys() -> None:
    redactor = Redactor(OrchestratorConfig(env_file=None).redact_keys)
    secret = [
        "password",
        "db_password",
        "api_key",
        "OPENAI_API_KEY",
        "apiKey",
        "access_token",
        "Authorization",
    ]
    assert [k for k in secret if not redactor.secret(k)] == []
    assert [k for k in ("max_tokens", "keyboard", "input_tokens", "tasks") if redactor.secret(k)] == []
    assert redactor.redacted({"a": [{"token": 1, "b": {"client_secret": "x"}}]}) == {
        "a": [{"token": "***", "b": {"client_secret": "***"}}]
    }
    assert Redactor(OrchestratorConfig(env_file=None, redact_keys=["ssn"]).redact_keys).redacted(
        {"ssn": 1, "password": 2}
    ) == {"ssn": "***", "password": 2}


def test_the_count_level_setting(make_orch) -> None:
    orch = make_orch(log_count_level="ERROR")
    run_id = run_here(orch, tasks=2, lines=1, fail=True, calls=0)
    assert (orch.get_run(run_id)["warnings"], orch.get_run(run_id)["errors"]) == (0, 2)
    orch = make_orch(log_count_level="INFO")
    run_id = run_here(orch, tasks=2, lines=1, fail=True, calls=0)
    # plan's INFO line, and each work task's INFO and WARNING lines; the ERRORs apart.
    assert (orch.get_run(run_id)["warnings"], orch.get_run(run_id)["errors"]) == (5, 2)
    with pytest.raises(ConfigError, match="log_count_level must be a level"):
        OrchestratorConfig(env_file=None, log_count_level="OFF")


class FailingTestChatModel(UsageReportingTestChatModel):
    """The test model, failing as a provider's error would."""

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("rate limited")


def test_a_failed_model_call_is_recorded_with_its_error() -> None:
    observations = RunObservations("r1")
    recorder = ModelCallRecorder(observations, PRICES)
    with pytest.raises(RuntimeError):
        FailingTestChatModel(responses=[]).invoke("hi", {"callbacks": [recorder]})
    (call,) = observations.take().calls
    assert (call["model"], call["error"], call["input_tokens"], call["cost_usd"]) == (
        "test-usage-model",
        "RuntimeError: rate limited",
        0,
        0.0,
    )
    # Outside a graph there is no task: the call is the run's, without one.
    assert call["task_id"] is None and call["node"] is None
    # A price without cached_input takes the input price for cached tokens.
    assert call_cost({"m": {"input": 1.0, "output": 2.0}}, "m", 1000, 10, 400) == pytest.approx(
        (600 * 1.0 + 400 * 1.0 + 10 * 2.0) / 1_000_000
    )


def test_follow_prints_the_lines_of_a_run_that_starts_later(make_orch) -> None:
    orch = make_orch(heartbeat_seconds=0.2)
    run_id = orch.launch("chatty", {"tasks": 2, "lines": 1, "calls": 0})
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, poll_seconds=0.1)
    # The run is still queued when `logs --follow` begins: it waits, then prints what comes.
    later = threading.Timer(1.0, executor.start)
    later.start()
    try:
        followed = call_cli("logs", run_id, "--follow", *database_args(orch.config))
    finally:
        later.join()
        executor.stop(grace=1)
    assert followed.code == 0, followed
    assert orch.get_run(run_id)["status"] == RunStatus.SUCCEEDED, followed
    # (The executor's own lines, from its thread in this process, reach the CLI's console too.)
    printed = [line for line in followed.out.strip().splitlines() if " team.chatty: " in line]
    assert sorted(line.rsplit(": ", 1)[1] for line in printed) == [
        "planning 2 tasks",
        "task 0 is slow",
        "task 0 line 0",
        "task 1 is slow",
        "task 1 line 0",
    ]


def test_every_line_of_a_busy_run_is_stored_with_its_time(make_orch) -> None:
    """None dropped on the way (the writer inserts at the driver's speed: db.fast_insert): 150
    tasks of 12 INFO lines and a WARNING, and the plan's line, each stored once, at the time its
    record was made."""
    orch = make_orch()
    made: list[float] = []

    class Times(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == "team.chatty":
                made.append(record.created)

    watcher = Times()
    logging.getLogger("team.chatty").addHandler(watcher)
    try:
        run_id = run_here(orch, tasks=150, lines=12, calls=0)
    finally:
        logging.getLogger("team.chatty").removeHandler(watcher)
    lines = orch.observations.logs(run_id, limit=5_000)
    assert len(lines) == stored(orch, run_logs, run_id) == 150 * 13 + 1 == len(made)
    assert len({line["id"] for line in lines}) == len(lines)
    assert sorted(line["at"] for line in lines) == sorted(
        dt.datetime.fromtimestamp(t, dt.UTC) for t in made
    )
