"""Run detail: the error with its traceback folded, the state at a chosen checkpoint, and the
sentence shown when an action fails (both backends)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from streamlit.testing.v1 import AppTest

from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute, main_texts, open_page
from tests.checkpoint_reader import checkpoints

TRACEBACK = 'Traceback (most recent call last):\n  File "flows.py", line 3, in work\nRuntimeError: boom'


def failed_run(orch: Orchestrator, run_id: str, error: str) -> None:
    created = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": "failed",
                "created_at": created,
                "started_at": created,
                "finished_at": created + dt.timedelta(seconds=2),
                "error": error,
                "input": {"tasks": 1},
                "tags": [],
            }
        ]
    )


def test_the_error_shows_its_first_line_and_folds_the_traceback(page_orch: Orchestrator) -> None:
    failed_run(page_orch, "withtrace", f"RuntimeError: boom\n{TRACEBACK}\n")
    failed_run(page_orch, "oneline", "RuntimeError: boom")
    at = open_page("run_detail", run_id="withtrace")
    assert not at.exception, [e.value for e in at.exception]
    assert main_texts(at, "error") == ["RuntimeError: boom"]
    (expander,) = at.main.expander
    assert expander.label == "Traceback"
    assert [c.value for c in expander.code] == [TRACEBACK]

    at = open_page("run_detail", run_id="oneline")
    assert main_texts(at, "error") == ["RuntimeError: boom"]
    assert not at.main.expander


def checkpoints_tab(at: AppTest) -> Any:
    return next(t for t in at.tabs if t.label == "Checkpoints")


def test_the_state_at_a_chosen_checkpoint(page_orch: Orchestrator) -> None:
    run_id = page_orch.launch("simulate", {"tasks": 2, "delay_ms": 0, "seed": 3})
    assert execute(page_orch, [run_id])[run_id]["status"] == "succeeded"
    at = open_page("run_detail", run_id=run_id)
    assert not at.exception, [e.value for e in at.exception]
    tab = checkpoints_tab(at)
    chooser = tab.selectbox(key="detail_checkpoint")
    # input, input applied, plan, the two `work` tasks, summarize; the latest is chosen first
    assert chooser.options == [
        "step -1 · input · –",
        "step 0 · loop · (input)",
        "step 1 · loop · plan",
        "step 2 · loop · work",
        "step 3 · loop · summarize",
    ]
    assert chooser.value == 4
    # the table's checkpoints are LangGraph's own, oldest first (read with its sync saver)
    (table,) = [df.value for df in tab.dataframe if "checkpoint" in df.value.columns]
    saved = checkpoints(page_orch.config, run_id)
    assert list(table["checkpoint"]) == [t.config["configurable"]["checkpoint_id"] for t in saved]
    assert list(table["step"]) == [-1, 0, 1, 2, 3]
    changed = [None if isinstance(c, float) else c for c in table["changed"]]  # an empty cell is NaN
    assert changed == [None, "delay_ms, fail_rate, fan_out, seed, tasks", "task_ids", "results", "summary"]
    (final,) = tab.json
    state = json.loads(final.value)
    # seed 3: task 0 is worth 381, task 1 666 (docs/workflows.md: fixed by (seed, index))
    assert [(r["index"], r["value"]) for r in state["results"]] == [(0, 381), (1, 666)]
    assert (state["summary"]["count"], state["summary"]["total"]) == (2, 1047)

    chooser.set_value(1).run()
    (chosen,) = checkpoints_tab(at).json
    # the input applied: nothing written by a node yet. LangGraph's own saver agrees.
    expected = {"tasks": 2, "fail_rate": 0.0, "delay_ms": 0, "seed": 3, "fan_out": 4}
    shown = json.loads(chosen.value)
    assert {k: shown[k] for k in expected} == expected
    assert "results" not in shown and "summary" not in shown
    values = saved[1].checkpoint["channel_values"]
    assert {k: values[k] for k in expected} == expected


def test_an_action_that_fails_says_so_in_one_sentence(page_orch: Orchestrator) -> None:
    run_id = page_orch.launch("simulate", {"tasks": 1})
    at = open_page("run_detail", run_id=run_id)
    assert ":gray[:material/schedule:] queued · simulate" in main_texts(at, "subheader")
    # The run finishes elsewhere while the page still offers to cancel it.
    assert page_orch.store.set_status(run_id, "succeeded")
    at.button(key="detail_cancel").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert main_texts(at, "error") == [
        f"Cancel failed: Run {run_id} has already succeeded; only queued, running, waiting or "
        "interrupted runs can be cancelled."
    ]
    assert page_orch.get_run(run_id)["status"] == "succeeded"
