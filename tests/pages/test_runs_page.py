"""The Runs page: Open selected, Compare selected, and a link past the last page (both backends)."""

from __future__ import annotations

import datetime as dt

from streamlit.testing.v1 import AppTest

from orchestrator.operations import Orchestrator
from tests.apptest_helpers import main_texts, open_page

LINK = "run_detail?run_id="


def seed(orch: Orchestrator, count: int) -> list[str]:
    """`count` queued runs r00, r01, … created a minute apart (r00 oldest), returned newest first."""
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    ids = [f"r{n:02d}" for n in range(count)]
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": "queued",
                "created_at": base + dt.timedelta(minutes=n),
                "input": {"tasks": n + 1},
                "tags": [],
            }
            for n, run_id in enumerate(ids)
        ]
    )
    return ids[::-1]


def shown_ids(at: AppTest) -> list[str]:
    (frame,) = [df.value for df in at.dataframe if "run_id" in df.value.columns]
    return [link.removeprefix(LINK) for link in frame["run_id"]]


def select_rows(at: AppTest, rows: list[int]) -> AppTest:
    at.session_state["runs_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_open_selected_opens_exactly_one_selected_run(page_orch: Orchestrator) -> None:
    newest_first = seed(page_orch, 3)
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    assert shown_ids(at) == newest_first == ["r02", "r01", "r00"]
    assert at.button(key="runs_open").disabled  # nothing selected
    select_rows(at, [0, 2])
    assert at.button(key="runs_open").disabled  # two selected: which one?
    select_rows(at, [1])
    assert not at.button(key="runs_open").disabled
    at.button(key="runs_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params == {"run_id": "r01"}
    assert [t.value for t in at.title] == ["Run detail"]
    assert ":gray[:material/schedule:] queued · simulate" in main_texts(at, "subheader")


def test_compare_selected_opens_two_to_twenty_runs_side_by_side(page_orch: Orchestrator) -> None:
    newest_first = seed(page_orch, 21)
    at = open_page("runs")
    assert at.button(key="runs_compare").disabled  # nothing selected
    select_rows(at, [0])
    assert at.button(key="runs_compare").disabled  # one is no comparison
    select_rows(at, list(range(21)))
    assert at.button(key="runs_compare").disabled  # twenty-one are too many
    select_rows(at, list(range(20)))
    assert not at.button(key="runs_compare").disabled
    select_rows(at, [0, 2, 3])
    assert not at.button(key="runs_compare").disabled
    at.button(key="runs_compare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params == {"run_ids": "r20,r18,r17"}
    assert newest_first[:4] == ["r20", "r19", "r18", "r17"]
    assert [t.value for t in at.title] == ["Compare runs"]
    assert at.multiselect(key="compare_runs").value == ["r20", "r18", "r17"]


def test_a_link_past_the_last_page_shows_the_last_page(page_orch: Orchestrator) -> None:
    seed(page_orch, 30)  # 30 runs, 25 a page: pages 1 and 2, the second holds r04 … r00
    at = open_page("runs", size="25", page="7")
    assert not at.exception, [e.value for e in at.exception]
    assert shown_ids(at) == ["r04", "r03", "r02", "r01", "r00"]
    (caption,) = [c for c in main_texts(at, "caption") if "matching runs" in c]
    assert caption == "**30** matching runs · page 2 of 2 · 5 going on this page"
    # a page far past any count (the largest page the limits allow) is the last page too
    at = open_page("runs", size="25", page="85899346")
    assert not at.exception, [e.value for e in at.exception]
    assert shown_ids(at) == ["r04", "r03", "r02", "r01", "r00"]


def test_statuses_read_as_words_not_stored_names(page_orch: Orchestrator) -> None:
    run_id = page_orch.launch("simulate", {"tasks": 1})
    page_orch.store.update_run(run_id, status="awaiting_input", state_snapshot={"__interrupt__": []})
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    options = at.multiselect(key="runs_status").options
    assert "awaiting input" in options and "awaiting_input" not in options
    detail = open_page("run_detail", run_id=run_id)
    assert ":violet[:material/front_hand:] awaiting input · simulate" in main_texts(detail, "subheader")


def test_an_empty_task_range_is_said_on_the_page(page_orch: Orchestrator) -> None:
    at = open_page("runs", tasks_total_min="10", tasks_total_max="5")
    assert not at.exception, [e.value for e in at.exception]
    assert "Tasks ≥ 10 and ≤ 5: the range is empty, so no run can match." in main_texts(at, "warning")
