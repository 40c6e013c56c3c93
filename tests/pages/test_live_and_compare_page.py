"""Live refresh (every 2 s while runs are going), the sidebar's counts of each status, and the
Compare page's diff of any two of its runs (both backends)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.looks import LOOKS, RUN_COLORS
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute, main_texts, open_page, reset_streamlit


def insert(orch: Orchestrator, *runs: tuple[str, str, dict[str, Any], dict[str, Any] | None]) -> None:
    """Runs (run_id, status, input, state) of `simulate`, a minute apart, the first oldest."""
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": status,
                "created_at": base + dt.timedelta(minutes=n),
                "input": input,
                "state_snapshot": state,
                "tags": [],
            }
            for n, (run_id, status, input, state) in enumerate(runs)
        ]
    )


# -- live refresh: what the pages ask Streamlit for -----------------------------------------------


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The `run_every` of every fragment the pages declare, by the fragment function's name."""
    asked: dict[str, Any] = {}
    real = st.fragment

    def recording(func: Callable | None = None, *, run_every: Any = None) -> Any:
        def wrap(f: Callable) -> Any:
            asked[f.__name__] = run_every
            return real(f, run_every=run_every)

        return wrap(func) if func is not None else wrap

    monkeypatch.setattr(st, "fragment", recording)
    return asked


def test_pages_refresh_every_2_s_while_runs_are_going(page_orch: Orchestrator, refreshes: dict) -> None:
    insert(page_orch, ("done", "succeeded", {}, None))
    open_page("runs")
    # nothing going: the table and the sidebar's counts look for news every 10 s
    assert (refreshes["runs_table"], refreshes["run_counts"]) == (10, 10)
    open_page("run_detail", run_id="done")
    assert refreshes["live_header"] is None  # a finished run does not change

    insert(page_orch, ("going", "running", {}, None))
    refreshes.clear()
    reset_streamlit()  # the status counts are cached for a few seconds
    open_page("runs")
    assert (refreshes["runs_table"], refreshes["run_counts"]) == (2, 2)
    open_page("run_detail", run_id="going")
    assert refreshes["live_header"] == 2

    at = open_page("runs")
    at.toggle(key="runs_live").set_value(False).run()
    assert refreshes["runs_table"] is None  # "Live refresh" off


def test_the_sidebar_counts_every_status(page_orch: Orchestrator) -> None:
    insert(
        page_orch,
        ("r1", "running", {}, None),
        ("r2", "running", {}, None),
        ("q1", "queued", {}, None),
        ("w1", "awaiting_input", {}, None),
        ("w2", "awaiting_input", {}, None),
        ("w3", "awaiting_input", {}, None),
        ("s1", "succeeded", {}, None),
        ("f1", "failed", {}, None),
    )
    at = open_page("overview")
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.sidebar.metric} == {
        "All runs": "8",
        "Running": "2",
        "Queued": "1",
        "Awaiting input": "3",
    }


# -- Compare: diff any two runs -----------------------------------------------------------------


def diff_rows(at: AppTest) -> list[tuple[str, str, str, str]]:
    return [
        (r.path, r.change, r.left, r.right)
        for df in at.dataframe
        if list(df.value.columns) == ["path", "change", "left", "right"]
        for r in df.value.itertuples()
    ]


def test_diff_any_two_of_the_chosen_runs(page_orch: Orchestrator) -> None:
    insert(
        page_orch,
        ("cmp1", "succeeded", {"tasks": 3, "seed": 1}, {"summary": {"count": 3}}),
        ("cmp2", "succeeded", {"tasks": 3, "seed": 2}, {"summary": {"count": 3}}),
        ("cmp3", "succeeded", {"tasks": 5, "seed": 1}, {"summary": {"count": 4}, "extra": [1]}),
    )
    at = open_page("compare", run_ids="cmp1,cmp2,cmp3")
    assert not at.exception, [e.value for e in at.exception]
    left, right = at.selectbox(key="compare_left"), at.selectbox(key="compare_right")
    assert left.options == right.options == ["1: cmp1", "2: cmp2", "3: cmp3"]
    # run 1 against run 2 first
    assert "**Input**: 1 difference" in main_texts(at, "markdown")
    assert "**State snapshot**: 0 differences" in main_texts(at, "markdown")
    assert diff_rows(at) == [("seed", "changed", "1", "2")]

    right.set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "**Input**: 1 difference" in main_texts(at, "markdown")
    assert "**State snapshot**: 2 differences" in main_texts(at, "markdown")
    assert diff_rows(at) == [
        ("tasks", "changed", "3", "5"),
        ("summary.count", "changed", "3", "4"),
        ("extra", "added", "–", "[1]"),  # a dash for nothing,
    ]
    assert "1: cmp1 against 3: cmp3" in main_texts(at, "caption")

    # A pair without run 1: run 3 on the left, run 2 on the right.
    at.selectbox(key="compare_left").set_value(2).run()
    at.selectbox(key="compare_right").set_value(1).run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(diff_rows(at)) == [  # PostgreSQL's jsonb keeps keys in its own order
        ("extra", "removed", "[1]", "–"),
        ("seed", "changed", "1", "2"),
        ("summary.count", "changed", "4", "3"),
        ("tasks", "changed", "5", "3"),
    ]
    assert "3: cmp3 against 2: cmp2" in main_texts(at, "caption")


def test_compare_takes_at_most_twenty_runs_from_a_link(page_orch: Orchestrator) -> None:
    ids = [f"m{n:02d}" for n in range(21)]
    insert(page_orch, *[(run_id, "succeeded", {"n": n}, None) for n, run_id in enumerate(ids)])
    at = open_page("compare", run_ids=",".join(ids))
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="compare_runs").value == ids[:20]
    assert at.query_params == {"run_ids": ",".join(ids[:20])}
    (table,) = [df.value for df in at.dataframe if list(df.value.columns)[:1] == ["1: m00"]]
    assert list(table.columns) == [f"{n + 1}: m{n:02d}" for n in range(20)]


# -- the launch page's cards -------------------------------------------------------------------


def test_a_failed_runs_card_says_why_with_a_red_bar(page_orch: Orchestrator) -> None:
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    common = {"workflow": "simulate", "created_at": base, "started_at": base, "input": {}, "tags": []}
    page_orch.store.insert_many(
        [
            {
                **common,
                "run_id": "cardfailed",
                "status": "failed",
                "finished_at": base + dt.timedelta(seconds=3),
                "tasks_total": 4,
                "tasks_completed": 3,
                "tasks_failed": 1,
                "error": "RuntimeError: simulated failure\nTraceback (most recent call last): ...",
                "launched_by": "browser:cards",
            },
            {
                **common,
                "run_id": "carddone",
                "status": "succeeded",
                "finished_at": base + dt.timedelta(seconds=2),
                "tasks_total": 2,
                "tasks_completed": 2,
                "launched_by": "browser:cards",
            },
        ]
    )
    at = open_page("launch", by="browser:cards")
    assert not at.exception, [e.value for e in at.exception]
    assert main_texts(at, "error") == ["RuntimeError: simulated failure"]  # its first line, not the traceback
    bars = [m for m in main_texts(at, "markdown") if 'class="run-bar"' in m]
    assert len(bars) == 2
    (failed,) = [b for b in bars if 'data-status="failed"' in b]
    assert "width:75%;background:#d93636" in failed  # 3 of 4, in the failed colour
    (done,) = [b for b in bars if 'data-status="succeeded"' in b]
    assert "width:100%;background:#2e9e4f" in done


def test_compare_draws_runs_in_colours_that_are_not_statuses(page_orch: Orchestrator) -> None:
    ids = [page_orch.launch("simulate", {"tasks": 1, "delay_ms": 0, "seed": n}) for n in range(3)]
    execute(page_orch, ids)
    at = open_page("compare", run_ids=",".join(ids))
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    assert len(specs) == 2  # durations and counts by node
    status_hexes = {look.color for look in LOOKS.values()}
    for spec in specs:
        scale = spec["encoding"]["color"]["scale"]
        assert scale["domain"] == [f"{i + 1}: {run_id[:8]}" for i, run_id in enumerate(ids)]
        assert scale["range"] == list(RUN_COLORS[:3])  # the same run, the same colour, in both charts
        assert not status_hexes & set(scale["range"])


def test_compare_cells_read_as_on_every_page() -> None:
    from dashboard.formatting import metric_text

    assert metric_text("status", "awaiting_input") == "awaiting input"
    assert metric_text("success_rate", 0.8) == "80.0%"
    assert [metric_text("work_seconds", s) for s in (49.515, 98.4)] == ["49.5 s", "1 min 38 s"]
    assert metric_text("tasks_total", 4) == "4"
