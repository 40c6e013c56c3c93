"""Text neither database can hold as it is (a NUL: PostgreSQL's text and JSONB hold none; a lone
surrogate: no UTF-8 has one), in what a run keeps beside its log lines: what its tasks were given
and wrote, its model calls (a model's name, an error), its tasks' and its own errors and its final
state. A real run on both backends: it ends as it would without that text and keeps every row,
the text escaped as `validation.storable_text` writes it (`\\x00`, `\\ud800`); what LangGraph's
own savers cannot hold fails the run with the saver's error, stored.

The lone surrogate must stay out of what pytest reports (pytest-xdist cannot send it): the
lines carrying it are kept out of pytest's capture, and the assertions compare stored text
(escaped) or booleans."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from _pytest.logging import LogCaptureHandler
from sqlalchemy import select

from orchestrator.config import OrchestratorConfig
from orchestrator.db import run_model_calls
from orchestrator.errors import InputError
from orchestrator.executor import Executor
from orchestrator.observe.conversation import conversation
from orchestrator.operations import Orchestrator
from orchestrator.run_metrics import checked_metric
from orchestrator.snapshots import to_jsonable
from orchestrator.status import RunStatus
from orchestrator.validation import storable_text
from tests.helpers import with_workflows

WORKFLOWS = {"odd": "tests.observe_workflows:build_odd"}
# tests.observe_workflows' NUL_TEXT and SURROGATE_TEXT, as they are stored.
NUL_STORED = "a\\x00b"
SURROGATE_STORED = "c \\ud800 d"


@pytest.fixture
def orch(config: OrchestratorConfig) -> Iterator[Orchestrator]:
    orch = Orchestrator(with_workflows(config, WORKFLOWS))
    yield orch
    orch.engine.dispose()


def _encodable(record: logging.LogRecord) -> bool:
    try:
        record.getMessage().encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError):
        return False
    return True


@contextlib.contextmanager
def no_lone_surrogates_in_pytests_capture() -> Iterator[None]:
    """pytest's own log capture leaves out lines it could not send (pytest-xdist cannot send a
    report holding a lone surrogate: the whole run would stop). The package still sees them."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, LogCaptureHandler)]
    for handler in handlers:
        handler.addFilter(_encodable)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(_encodable)


def run_to_its_end(orch: Orchestrator, **input: Any) -> dict[str, Any]:
    """Launch an `odd` run, execute it here to its end; its row."""
    run_id = orch.launch("odd", input)
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, concurrency=1)
    (row,) = executor.store.claim_queued(executor.worker, 1, run_id=run_id)
    with no_lone_surrogates_in_pytests_capture():
        asyncio.run(asyncio.wait_for(executor.execute_claimed(row), 120))
    run = orch.get_run(run_id)
    assert run is not None
    return run


def calls(orch: Orchestrator, run_id: str) -> list[tuple[str, str | None]]:
    with orch.engine.connect() as conn:
        rows = conn.execute(
            select(run_model_calls.c.model, run_model_calls.c.error)
            .where(run_model_calls.c.run_id == run_id)
            .order_by(run_model_calls.c.id)
        )
        return [(row.model, row.error) for row in rows]


def test_odd_text_given_written_and_said_by_a_model_is_kept_escaped(orch: Orchestrator) -> None:
    run = run_to_its_end(orch)
    run_id = run["run_id"]
    assert (run["status"], run["error"]) == (RunStatus.SUCCEEDED, None)
    tasks = orch.store.get_tasks(run_id)
    assert sorted(t["node"] for t in tasks) == ["ask", "plan", "work", "work"]
    assert {t["status"] for t in tasks} == {"succeeded"}
    # Every line logged is kept, with the rest.
    assert len(orch.observations.logs(run_id)) == 4
    for task in tasks:
        (io,) = orch.observations.task_io(run_id, task["task_id"])
        if task["node"] == "plan":
            assert io["output"] == {"notes": [NUL_STORED]}
        elif task["node"] == "work":
            index = io["input"]["index"]
            assert io["input"] == {"index": index, "note": NUL_STORED, "key\\x00": 1}
            assert io["output"] == {"notes": [f"{NUL_STORED} done {index}"]}
        else:
            turns = conversation(io["output"])
            assert [(t.role, t.content) for t in turns or []] == [
                ("human", f"what of {NUL_STORED}?"),
                ("ai", f"it said {NUL_STORED}"),
            ]
    # The model's odd name, and the error another model raised, each with its call.
    assert calls(orch, run_id) == [
        (f"odd{NUL_STORED} {SURROGATE_STORED}", None),
        ("test-usage-model", f"OddModelError: provider refused {NUL_STORED} {SURROGATE_STORED}"),
    ]
    assert run["model_calls"] == 2
    # The final state, escaped the same way.
    snapshot = run["state_snapshot"]
    assert sorted(snapshot["notes"]) == [NUL_STORED, f"{NUL_STORED} done 0", f"{NUL_STORED} done 1"]
    turns = conversation(snapshot)
    assert [t.content for t in turns or []] == [f"what of {NUL_STORED}?", f"it said {NUL_STORED}"]


def test_a_run_failing_with_odd_text_keeps_its_error_escaped(orch: Orchestrator) -> None:
    run = run_to_its_end(orch, fail=True)
    run_id = run["run_id"]
    assert run["status"] == RunStatus.FAILED
    said = f"OddModelError: odd failure {NUL_STORED} {SURROGATE_STORED}"
    assert run["error"].startswith(said)
    (ask,) = [t for t in orch.store.get_tasks(run_id) if t["node"] == "ask"]
    assert (ask["status"], ask["error"]) == ("failed", said)
    assert len(orch.observations.logs(run_id)) == 4
    assert len(calls(orch, run_id)) == 2
    assert sorted(run["state_snapshot"]["notes"]) == [NUL_STORED, f"{NUL_STORED} done 0", f"{NUL_STORED} done 1"]


def test_what_langgraphs_savers_cannot_hold_fails_the_run_with_a_clear_error(
    orch: Orchestrator, backend: str
) -> None:
    # A lone surrogate in the state: LangGraph's serializer (msgpack, both backends) writes it as
    # `?`, so the final state (read back from the checkpoint) says `?`; what the task wrote is
    # kept escaped.
    run = run_to_its_end(orch, surrogate_in_state=True)
    assert run["status"] == RunStatus.SUCCEEDED
    assert sorted(run["state_snapshot"]["notes"]) == [NUL_STORED, f"{NUL_STORED} done 0", f"{NUL_STORED} done 1", "c ? d"]
    (plan,) = [t for t in orch.store.get_tasks(run["run_id"]) if t["node"] == "plan"]
    assert orch.observations.task_io(run["run_id"], plan["task_id"])[0]["output"] == {
        "notes": [NUL_STORED, SURROGATE_STORED]
    }
    # A text channel holding either: LangGraph's PostgreSQL saver keeps such a value in the
    # checkpoint's own JSONB, which holds neither: the run fails at once, saying so, with what
    # came before it kept. SQLite's saver keeps the checkpoint serialized.
    for odd, stored in (("nul", NUL_STORED), ("surrogate", "c ? d")):
        run = run_to_its_end(orch, odd_title=odd)
        tasks = orch.store.get_tasks(run["run_id"])
        if backend == "sqlite":
            assert (run["status"], run["state_snapshot"]["title"]) == (RunStatus.SUCCEEDED, stored)
            assert len(tasks) == 4
            continue
        assert run["status"] == RunStatus.FAILED
        assert run["error"].startswith(
            "The run's state could not be saved: the text in `title` holds a NUL character (\\u0000) "
            "or a lone surrogate, which LangGraph's PostgreSQL saver cannot store"
        )
        assert [(t["node"], t["status"]) for t in tasks] == [("plan", "succeeded")]
        assert len(orch.observations.logs(run["run_id"])) == 1
        (io,) = orch.observations.task_io(run["run_id"], tasks[0]["task_id"])
        assert io["output"]["title"] == (NUL_STORED if odd == "nul" else SURROGATE_STORED)


def test_storable_text_escapes_only_what_a_database_cannot_hold() -> None:
    assert storable_text("plain") == "plain"
    assert storable_text("é ✓ 😀") == "é ✓ 😀"
    assert storable_text("a\x00b \ud800 c \udfff") == "a\\x00b \\ud800 c \\udfff"
    odd = {"k\x00": ["a\x00", ("\ud800",)], 1: "x"}
    assert to_jsonable(odd) == {"k\\x00": ["a\\x00", ["\\ud800"]], "1": "x"}
    # What a person or a node names is refused, not escaped: a run's input (validation's
    # check_json_value, tests/reliability/test_text_inputs.py) and a metric's name.
    for name in ("a\x00", "\ud800"):
        with pytest.raises(InputError) as refused:
            checked_metric(name, 1.0, None)
        assert ("A metric name is" in str(refused.value)) is True
