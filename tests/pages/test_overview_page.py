"""The Overview page beyond its figures (those: tests/test_metrics.py, test_dashboard.py): the
slowest and most failing nodes, the workflow filter, the per-workflow links to their runs, both
histograms and a click on a bar of runs over time opening those runs (both backends)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qsl

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import AttributeDictionary

from dashboard.charts import DURATION_TICKS
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import main_texts, open_page

LINK = "run_detail?run_id="


@pytest.fixture
def seeded(page_orch: Orchestrator) -> dict[str, dt.datetime]:
    """Three runs of the last two days with task rows of known durations; returns their creation."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    created = {
        "a": now - dt.timedelta(hours=2),
        "b": now - dt.timedelta(hours=3),
        "c": now - dt.timedelta(hours=26),
    }
    runs = [
        ("a", "simulate", "succeeded", 10),
        ("b", "simulate", "failed", 20),
        ("c", "plan_execute", "succeeded", 30),
    ]
    page_orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": workflow,
                "status": status,
                "created_at": created[run_id],
                "started_at": created[run_id],
                "finished_at": created[run_id] + dt.timedelta(seconds=seconds),
                "input": {},
                "tags": [],
            }
            for run_id, workflow, status, seconds in runs
        ]
    )
    tasks = [
        ("a", "plan", "succeeded", 1),
        ("a", "work", "succeeded", 4),
        ("b", "work", "failed", 2),
        ("b", "work", "failed", 6),
        ("c", "planner", "succeeded", 8),
        ("c", "worker", "failed", 3),
    ]
    page_orch.store.insert_tasks(
        [
            {
                "run_id": run_id,
                "task_id": f"{run_id}-{n}",
                "node": node,
                "status": status,
                "started_at": created[run_id],
                "finished_at": created[run_id] + dt.timedelta(seconds=seconds),
            }
            for n, (run_id, node, status, seconds) in enumerate(tasks)
        ]
    )
    return created


def node_rows(table: pd.DataFrame) -> list[tuple[Any, ...]]:
    return [
        (
            r.node,
            r.tasks,
            r.failed,
            r.failure_rate,
            r.mean_seconds,
            r.p95_seconds,
        )
        for r in table.itertuples()
    ]


def tables_after(subheader: str, at: AppTest) -> pd.DataFrame:
    """The node table under `subheader` (the two node tables have the same columns, in page order)."""
    tables = [df.value for df in at.dataframe if "node" in df.value.columns]
    index = {"Slowest nodes": 0, "Most failing nodes": 1}[subheader]
    return tables[index]


def test_slowest_and_most_failing_nodes(seeded: dict[str, dt.datetime]) -> None:
    at = open_page("overview")
    assert not at.exception, [e.value for e in at.exception]
    assert {"Slowest nodes", "Most failing nodes"} <= set(main_texts(at, "subheader"))
    # work: 4 s, 2 s, 6 s (two failed): mean 4, p95 at position 1.9 of 2 4 6 = 4 + 0.9*2 = 5.8
    assert node_rows(tables_after("Slowest nodes", at)) == [
        ("planner", 1, 0, "0.0%", "8.0 s", "8.0 s"),
        ("work", 3, 2, "66.7%", "4.0 s", "5.8 s"),
        ("worker", 1, 1, "100.0%", "3.0 s", "3.0 s"),
        ("plan", 1, 0, "0.0%", "1.0 s", "1.0 s"),
    ]
    assert [row[0] for row in node_rows(tables_after("Most failing nodes", at))] == ["work", "worker"]


def test_the_workflow_filter_narrows_every_part(seeded: dict[str, dt.datetime]) -> None:
    at = open_page("overview")
    assert {m.label: m.value for m in at.main.metric}["Runs"] == "3"
    at.multiselect(key="overview_workflows").set_value(["simulate"]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.main.metric}["Runs"] == "2"
    assert [row[0] for row in node_rows(tables_after("Slowest nodes", at))] == ["work", "plan"]
    assert [row[0] for row in node_rows(tables_after("Most failing nodes", at))] == ["work"]
    by_workflow = [df.value for df in at.dataframe if "workflow" in df.value.columns]
    assert [list(t["workflow"]) for t in by_workflow] == [["simulate"]]


def test_each_workflow_links_to_its_runs_of_the_period(seeded: dict[str, dt.datetime]) -> None:
    at = open_page("overview")
    (table,) = [df.value for df in at.dataframe if "workflow" in df.value.columns]
    assert list(table["workflow"]) == ["simulate", "plan_execute"]  # busiest first
    assert list(table["runs"]) == [2, 1]
    links = dict(zip(table["workflow"], table["open"], strict=True))
    assert links["simulate"].startswith("./?workflow=simulate&created=")
    params = dict(parse_qsl(links["simulate"].removeprefix("./?")))
    runs = open_page("runs", **params)
    assert not runs.exception, [e.value for e in runs.exception]
    (shown,) = [df.value for df in runs.dataframe if "run_id" in df.value.columns]
    assert sorted(link.removeprefix(LINK) for link in shown["run_id"]) == ["a", "b"]


def test_both_histograms_are_drawn(seeded: dict[str, dt.datetime]) -> None:
    at = open_page("overview")
    assert {"Work time", "Tasks per run"} <= set(main_texts(at, "subheader"))
    captions = main_texts(at, "caption")
    assert "No run of this period has finished yet." not in captions
    assert "No run of this period has recorded a task yet." not in captions
    assert len(at.get("vega_lite_chart")) == 3  # runs over time and the two histograms


def test_a_click_on_a_bar_opens_those_runs(seeded: dict[str, dt.datetime]) -> None:
    at = open_page("overview")
    day = seeded["a"].strftime("%Y-%m-%d")
    # What a click on the bar of that day's succeeded runs makes of the chart's state.
    pick = {"bucket": f"{day} 00:00", "status": "succeeded"}
    at.session_state["overview_time"] = AttributeDictionary(
        {"selection": AttributeDictionary({"pick": [pick]})}
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params == {"status": "succeeded", "created": f"{day}..{day}"}
    assert [t.value for t in at.title] == ["Runs"]
    (shown,) = [df.value for df in at.dataframe if "run_id" in df.value.columns]
    assert [link.removeprefix(LINK) for link in shown["run_id"]] == ["a"]


def test_histogram_axes_read_as_durations_and_draw_the_last_bar_whole(seeded: dict[str, dt.datetime]) -> None:
    at = open_page("overview")
    charts = at.get("vega_lite_chart")
    _, durations, tasks = [json.loads(chart.proto.spec) for chart in charts]
    _, duration_rows, task_rows = [pa.ipc.open_stream(c.proto.datasets[0].data.data).read_pandas() for c in charts]
    x = durations["encoding"]["x"]
    assert x["title"] == "work time"
    assert "' s'" in x["axis"]["labelExpr"] and "' min'" in x["axis"]["labelExpr"]  # 10 s, 1 min, not 1e+1
    assert set(x["axis"]["values"]) <= set(DURATION_TICKS)
    for spec, rows in ((durations, duration_rows), (tasks, task_rows)):
        # The scale ends where the last bar ends: the bar is not cut at the right edge.
        assert spec["encoding"]["x"]["scale"]["domain"] == [rows["start"].min(), rows["end"].max()]


def test_p95_reads_the_same_in_the_headline_and_the_table(seeded: dict[str, dt.datetime]) -> None:
    at = open_page("overview")
    headline = {m.label: m.value for m in at.main.metric}["p95 work time"]
    (table,) = [df.value for df in at.dataframe if "workflow" in df.value.columns]
    assert headline.endswith(" s") and all(str(v).endswith(" s") for v in table["p95_work_seconds"])
    assert all(str(v).endswith("%") for v in table["success_rate"])


def test_the_period_and_workflows_live_in_the_url(seeded: dict[str, dt.datetime]) -> None:
    at = open_page("overview")
    assert dict(at.query_params) == {}  # the defaults: last 7 days, every workflow, work time
    at.segmented_control(key="overview_period").set_value("24h").run()
    at.multiselect(key="overview_workflows").set_value(["simulate"]).run()
    at.toggle(key="overview_wall").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    shared = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert shared == {"period": "24h", "workflow": "simulate", "wall": "true"}

    # A reload, or the link opened elsewhere: the same view.
    again = open_page("overview", **shared)
    assert not again.exception, [e.value for e in again.exception]
    assert again.segmented_control(key="overview_period").value == "24h"
    assert again.multiselect(key="overview_workflows").value == ["simulate"]
    assert again.toggle(key="overview_wall").value is True
    assert {m.label: m.value for m in again.main.metric}["Runs"] == "2"  # a and b: the last 24 h of simulate

    custom = open_page("overview", period="custom", days="2026-01-01..2026-01-03")
    assert not custom.exception, [e.value for e in custom.exception]
    assert custom.date_input(key="overview_custom").value == (dt.date(2026, 1, 1), dt.date(2026, 1, 3))
    assert any(c.startswith("2026-01-01 00:00:00 UTC – 2026-01-04 00:00:00 UTC") for c in main_texts(custom, "caption"))

    bad = open_page("overview", period="week")
    assert main_texts(bad, "error") == [
        "This link's `period` is not a value this page takes, so it is left at its default."
    ]
