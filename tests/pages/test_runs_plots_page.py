"""The Runs page's plots of the filtered runs (both backends): what the scatter and the parallel
coordinates draw for the page's filter, their settings in the URL, "showing N of M" when the
runs are more than a plot holds, and one sentence for a bad axis from a link."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest

from orchestrator import run_plots
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import main_texts, open_page
from tests.pages.test_crafted_urls import CRAFTED, assert_no_exception


def seed(orch: Orchestrator) -> None:
    """p00 … p09, a minute apart: input.delay_ms = 10 n, metrics.accuracy = n / 10 for the even
    ones (none for the odd), tasks_total = n; p00 … p04 failed, p05 … p09 succeeded."""
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {
                "run_id": f"p{n:02d}",
                "workflow": "simulate",
                "status": "failed" if n < 5 else "succeeded",
                "created_at": base + dt.timedelta(minutes=n),
                "tasks_total": n,
                "tasks_completed": n,
                "input": {"delay_ms": 10 * n},
                "metrics": {"accuracy": n / 10} if n % 2 == 0 else None,
                "tags": [],
            }
            for n in range(10)
        ]
    )


def chart_data(at: Any, key_part: str) -> tuple[dict[str, Any], Any]:
    """The spec and the data of the one chart whose spec names `key_part`'s selection."""
    charts = [c for c in at.get("vega_lite_chart") if key_part in c.proto.id]
    (chart,) = charts
    return json.loads(chart.proto.spec), pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()


def test_a_scatter_of_two_fields_for_the_filtered_runs(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page(
        "runs",
        status="succeeded",
        plot="true",
        plot_x="input.delay_ms",
        plot_y="metrics.accuracy",
        plot_fields="input.delay_ms,tasks_total,metrics.accuracy",
    )
    assert not at.exception, [e.value for e in at.exception]
    # succeeded: p05 … p09; with an accuracy: p06, p08 (newest first, the table's order)
    spec, data = chart_data(at, "runs_plot_scatter")
    assert list(zip(data["run_id"], data["x"], data["y"], strict=True)) == [
        ("p08", 80, 0.8),
        ("p06", 60, 0.6),
    ]
    assert spec["params"][0]["select"]["type"] == "point"
    assert "Showing 5 of 5 matching runs. Click a run's point or line to open it." in main_texts(
        at, "caption"
    )
    assert "3 runs without a number for input.delay_ms or metrics.accuracy are left out." in main_texts(
        at, "caption"
    )
    # parallel coordinates: each field from its lowest (0) to its highest (1) among p06 and p08
    _, lines = chart_data(at, "runs_plot_parallel")
    assert sorted(zip(lines["run_id"], lines["field"], lines["position"], strict=True)) == [
        ("p06", "input.delay_ms", 0.0),
        ("p06", "metrics.accuracy", 0.0),
        ("p06", "tasks_total", 0.0),
        ("p08", "input.delay_ms", 1.0),
        ("p08", "metrics.accuracy", 1.0),
        ("p08", "tasks_total", 1.0),
    ]


def test_the_plot_settings_live_in_the_url(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.get("vega_lite_chart")
    at.toggle(key="runs_plot").set_value(True).run()
    at.selectbox(key="runs_plot_x").select("tasks_total").run()
    assert not at.exception, [e.value for e in at.exception]
    params = dict(at.query_params)
    assert params["plot"] in ("true", ["true"]) and params["plot_x"] in ("tasks_total", ["tasks_total"])
    # x = tasks, y = work time: none of the seeded runs has worked, so nothing to draw, said so
    assert "None of these runs has a number for both Tasks and Work time (s)." in main_texts(at, "info")


def test_over_time_the_points_are_in_time_order(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page(
        "runs", plot="true", plot_x="created_at", plot_y="tasks_total", plot_color="input.delay_ms"
    )
    assert not at.exception, [e.value for e in at.exception]
    spec, data = chart_data(at, "runs_plot_scatter")
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "circle"]
    assert list(data["run_id"]) == [f"p{n:02d}" for n in range(10)]  # oldest first
    assert list(data["color"]) == [10 * n for n in range(10)]


def test_more_runs_than_a_plot_holds_are_sampled_and_the_page_says_so(
    page_orch: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(page_orch)
    monkeypatch.setattr(run_plots, "PLOT_LIMIT", 4)  # ten runs, a plot of four
    at = open_page("runs", plot="true", plot_x="tasks_total", plot_y="input.delay_ms")
    assert not at.exception, [e.value for e in at.exception]
    _, data = chart_data(at, "runs_plot_scatter")
    assert list(data["run_id"]) == ["p09", "p08", "p07", "p06"]
    assert (
        "Showing 4 of 10 matching runs: the first in the table's order (Created, descending). "
        "Click a run's point or line to open it."
    ) in main_texts(at, "caption")


def test_a_bad_axis_from_a_link_is_one_sentence(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page("runs", plot="true", plot_x="input.1bad")
    assert not at.exception, [e.value for e in at.exception]
    (error,) = main_texts(at, "error")
    assert error.startswith("Field 'input.1bad' is not a path of keys")


def test_crafted_plot_settings_never_break_the_page(page_orch: Orchestrator) -> None:
    seed(page_orch)
    for label, value in CRAFTED.items():
        names = ("plot_x", "plot_y", "plot_color", "plot_fields")
        at = open_page("runs", plot="true", **dict.fromkeys(names, value))
        assert_no_exception(at, f"plot settings = {label}")
